/// Why a configuration value cannot be used, in words (never containing a secret).
struct ConfigValueProblem: Error {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

/// How configuration values are shown in messages and turned from text into numbers.
enum ConfigText {
    /// A value quoted for a message, shortened to 40 characters.
    static func show(_ text: String) -> String {
        let limit = 40
        if text.count <= limit { return "`\(text)`" }
        return "`\(text.prefix(limit))…`"
    }

    /// A decimal integer with an optional sign; no other forms (`0x`, `1_000`, `1e3`).
    static func parseInteger(_ text: String) -> Int? {
        var digits = Substring(text)
        var negative = false
        if let first = digits.first, first == "+" || first == "-" {
            negative = first == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let magnitude = Int(digits) else { return nil }
        return negative ? -magnitude : magnitude
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}

/// "Did you mean" suggestions by edit distance.
enum Suggestion {
    /// The candidate closest to `word`, when it is close enough to be a likely typo.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (candidate: String, distance: Int)?
        // One- and two-letter candidates (`0`, `v5`) are too short for a typo to be recognizable.
        for candidate in candidates where candidate.count > 2 {
            let distance = editDistance(lowered, candidate.lowercased())
            let allowed = max(1, min(3, candidate.count / 3))
            guard distance <= allowed else { continue }
            if best.map({ distance < $0.distance }) ?? true { best = (candidate, distance) }
        }
        return best?.candidate
    }

    /// Levenshtein distance (insert, delete, substitute), plus a swap of two neighbours counting as one.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
            }
            previousPrevious = previous
            previous = current
        }
        return previous[b.count]
    }
}

/// Byte sizes in the YAML: a plain integer (bytes), or a whole number with a unit.
///
/// Units are explicit about their base: `B`; `KB`, `MB`, `GB`, `TB` are powers of 1000; `KiB`, `MiB`, `GiB`,
/// `TiB` are powers of 1024. Units are case-insensitive and may follow a space (`64 MiB`). A bare `K`, `M` or
/// `G` is rejected as ambiguous.
enum ByteSize {
    static let units: [(name: String, factor: Int)] = [
        ("b", 1),
        ("kb", 1000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40),
    ]

    static func parse(_ text: String) -> Result<Int, ConfigValueProblem> {
        let trimmed = text.trimmingSpaces
        let digits = trimmed.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = String(trimmed.dropFirst(digits.count)).trimmingSpaces.lowercased()
        let example = "such as `1048576`, `512KiB`, `64MiB`, `1GiB` or `1MB`"
        guard !digits.isEmpty, let number = Int(digits) else {
            if trimmed.hasPrefix("-") {
                return .failure(ConfigValueProblem("a size cannot be negative, got `\(text)`"))
            }
            return .failure(ConfigValueProblem("expected a size \(example), got \(ConfigText.show(text))"))
        }
        if unit.isEmpty { return .success(number) }
        if ["k", "m", "g", "t"].contains(unit) {
            let upper = unit.uppercased()
            return .failure(
                ConfigValueProblem(
                    "the unit `\(upper)` is ambiguous; write `\(upper)iB` (powers of 1024) "
                        + "or `\(upper)B` (powers of 1000)"
                )
            )
        }
        guard let factor = units.first(where: { $0.name == unit })?.factor else {
            return .failure(ConfigValueProblem("unknown size unit in \(ConfigText.show(text)); \(example)"))
        }
        let (product, overflow) = number.multipliedReportingOverflow(by: factor)
        guard !overflow else { return .failure(ConfigValueProblem("\(ConfigText.show(text)) is too large")) }
        return .success(product)
    }

    /// `64 MiB`, `1 GiB`, `1500 bytes`: the largest binary unit that divides the value exactly.
    static func format(_ value: Int) -> String {
        for (name, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] where value != 0 {
            if value % (1 << shift) == 0 { return "\(value >> shift) \(name)" }
        }
        return value == 1 ? "1 byte" : "\(value) bytes"
    }
}

/// `host:port` addresses (`broker.bootstrap_servers`, `metrics.listen`); IPv6 hosts in brackets.
enum HostPort {
    static func problem(_ text: String, allowPortZero: Bool) -> String? {
        let shown = ConfigText.show(text)
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return "unclosed `[` in \(shown)" }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return "expected `[IPv6]:port`, got \(shown)" }
            port = rest.dropFirst()
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "`[\(host)]` is not an IPv6 address"
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return "expected `host:port`, got \(shown)" }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return "an IPv6 host must be in brackets, as in `[::1]:9092`, got \(shown)" }
            guard !host.isEmpty else { return "the host is missing in \(shown)" }
            guard host.allSatisfy(BrokerURL.isHostCharacter) else { return "\(shown) has an invalid host" }
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port)
        else {
            return "expected `host:port` with a numeric port, got \(shown)"
        }
        let lowest = allowPortZero ? 0 : 1
        guard (lowest...65535).contains(number) else { return "port \(number) is out of the range \(lowest)…65535" }
        return nil
    }
}
