import Yams

/// A YAML mapping being read: its entries, its path from the file root, and the keys asked for so far.
///
/// Every key a section asks for (present or not) is a known key of that section, so once a section has
/// read everything, the entries never asked for are exactly its unknown keys (see ``ConfigReader/finish(_:)``).
final class ConfigMapping {
    /// One `key: value` pair.
    struct Entry {
        var key: String
        var keyMark: Mark?
        var value: Node
    }

    /// The dotted path of this mapping (`""` for the root).
    let path: String
    /// Where the mapping starts.
    let mark: Mark?
    /// The pairs, explicit ones first, then those brought in by `<<:` merge keys.
    let entries: [Entry]
    /// Keys asked for, in the order asked.
    private(set) var knownKeys: [String] = []

    init(path: String, mark: Mark?, entries: [Entry]) {
        self.path = path
        self.mark = mark
        self.entries = entries
    }

    /// The dotted path of `key` in this mapping.
    func path(of key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value of `key` (marking `key` as known), or `nil` when absent.
    func value(_ key: String) -> Node? {
        if !knownKeys.contains(key) { knownKeys.append(key) }
        return entries.first(where: { $0.key == key })?.value
    }

    /// `true` when `key` is present (marking it as known).
    func has(_ key: String) -> Bool {
        value(key) != nil
    }

    /// `true` when `key` is present, without marking it as known.
    func contains(_ key: String) -> Bool {
        entries.contains(where: { $0.key == key })
    }

    /// Where to point a problem about `key`: its value when present, else the mapping itself.
    func mark(of key: String) -> Mark? {
        entries.first(where: { $0.key == key }).flatMap { $0.value.mark ?? $0.keyMark } ?? mark
    }

    /// Marks every present key as known (for sections that are accepted and ignored).
    func acceptAll() {
        for entry in entries where !knownKeys.contains(entry.key) { knownKeys.append(entry.key) }
    }
}

/// One element of a YAML list of scalars.
struct ConfigListItem {
    var text: String
    var path: String
    var mark: Mark?
}

/// Reads typed values out of a `Yams.Node` tree and collects every problem with its path and position.
///
/// `${VAR}` and `${VAR:-default}` are expanded in every string scalar when it is read, before any type
/// conversion, so `keep_alive_secs: ${KA:-60}` works. Sections that are accepted and ignored are never read,
/// so a missing variable there is not a problem.
struct ConfigReader {
    /// A problem and where it is in the document, for sorting into document order.
    struct LocatedProblem {
        var problem: ConfigurationError.Problem
        var line: Int
        var column: Int
        var sequence: Int
    }

    let environment: [String: String]
    private(set) var located: [LocatedProblem] = []

    init(environment: [String: String]) {
        self.environment = environment
    }

    /// The problems in document order (problems at the same place keep the order they were found in).
    var problems: [ConfigurationError.Problem] {
        located.sorted { lhs, rhs in
            (lhs.line, lhs.column, lhs.sequence) < (rhs.line, rhs.column, rhs.sequence)
        }
        .map(\.problem)
    }

    var hasProblems: Bool { !located.isEmpty }

    // MARK: Reporting

    mutating func report(_ path: String, _ mark: Mark?, _ message: String) {
        let problem = ConfigurationError.Problem(path: path, message: message)
        located.append(
            LocatedProblem(
                problem: problem,
                line: mark?.line ?? Int.max,
                column: mark?.column ?? Int.max,
                sequence: located.count
            )
        )
    }

    /// Reports a problem about `key` of `mapping`.
    mutating func report(_ mapping: ConfigMapping, _ key: String, _ message: String) {
        report(mapping.path(of: key), mapping.mark(of: key), message)
    }

    // MARK: Mappings

    /// Opens `node` as a mapping at `path`, flattening `<<:` merge keys; reports and returns `nil` otherwise.
    mutating func mapping(_ node: Node, path: String) -> ConfigMapping? {
        guard case .mapping(let mapping) = node else {
            report(path, node.mark, "expected a mapping, got \(Self.describe(node))")
            return nil
        }
        return ConfigMapping(path: path, mark: mapping.mark, entries: entries(of: mapping, path: path))
    }

    private mutating func entries(of mapping: Node.Mapping, path: String) -> [ConfigMapping.Entry] {
        var explicit: [ConfigMapping.Entry] = []
        var merged: [ConfigMapping.Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                report(
                    path.isEmpty ? ConfigurationError.Problem.fileLevel : path,
                    keyNode.mark,
                    "keys must be plain strings, got \(Self.describe(keyNode))"
                )
                continue
            }
            if keyScalar.string == "<<" && keyScalar.style == .plain {
                let sources: [Node]
                switch value {
                case .mapping: sources = [value]
                case .sequence(let sequence): sources = Array(sequence)
                default: sources = []
                }
                for source in sources {
                    guard case .mapping(let sourceMapping) = source else {
                        report(
                            path.isEmpty ? "<<" : "\(path).<<",
                            source.mark,
                            "a merge key `<<` takes a mapping or a list of mappings"
                        )
                        continue
                    }
                    for entry in entries(of: sourceMapping, path: path)
                    where !merged.contains(where: { $0.key == entry.key }) {
                        merged.append(entry)
                    }
                }
                if sources.isEmpty {
                    report(
                        path.isEmpty ? "<<" : "\(path).<<",
                        value.mark,
                        "a merge key `<<` takes a mapping or a list of mappings"
                    )
                }
                continue
            }
            explicit.append(ConfigMapping.Entry(key: keyScalar.string, keyMark: keyNode.mark, value: value))
        }
        return explicit + merged.filter { entry in !explicit.contains(where: { $0.key == entry.key }) }
    }

    /// The nested mapping at `key`, or `nil` when absent, null, or not a mapping (then reported).
    mutating func child(_ mapping: ConfigMapping, _ key: String) -> ConfigMapping? {
        guard let node = mapping.value(key), !Self.isNull(node) else { return nil }
        return self.mapping(node, path: mapping.path(of: key))
    }

    /// Reports every key of `mapping` that was never asked for, with a "did you mean" hint when one is close.
    ///
    /// - Parameter hints: extra advice for keys that belong elsewhere, such as `username` → `auth.username`.
    mutating func finish(_ mapping: ConfigMapping, hints: [String: String] = [:]) {
        for entry in mapping.entries where !mapping.knownKeys.contains(entry.key) {
            var message = "unknown key"
            if let hint = hints[entry.key] {
                message += "; \(hint)"
            } else if let suggestion = Suggestion.closest(to: entry.key, among: mapping.knownKeys) {
                message += "; did you mean `\(suggestion)`?"
            } else if !mapping.knownKeys.isEmpty {
                message += " (known keys: " + mapping.knownKeys.map { "`\($0)`" }.joined(separator: ", ") + ")"
            }
            report(mapping.path(of: entry.key), entry.keyMark, message)
        }
    }

    // MARK: Scalars

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How a node is shown in a message: its text for a scalar (shortened), else its kind.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): show(scalar.string)
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// A value quoted for a message, shortened to 40 characters.
    static func show(_ text: String) -> String {
        let limit = 40
        if text.count <= limit { return "`\(text)`" }
        return "`\(text.prefix(limit))…`"
    }

    /// The text of a scalar after `${VAR}` expansion; `nil` when null, not a scalar (reported, naming
    /// `expected`), or when a variable is missing (reported).
    mutating func text(_ node: Node, path: String, expected: String) -> String? {
        if Self.isNull(node) { return nil }
        guard case .scalar(let scalar) = node else {
            report(path, node.mark, "expected \(expected), got \(Self.describe(node))")
            return nil
        }
        return expand(scalar.string, path: path, mark: scalar.mark)
    }

    /// Expands `${NAME}` and `${NAME:-default}` (the default is used when NAME is unset or empty).
    /// Anything else, `$$` included, is left as written. Reports each missing variable that has no default.
    mutating func expand(_ text: String, path: String, mark: Mark?) -> String? {
        guard text.contains("${") else { return text }
        var output = ""
        var missing = false
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            output += rest[rest.startIndex..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let reference = Self.parseReference(afterOpen) else {
                output += "${"
                rest = afterOpen
                continue
            }
            let value = environment[reference.name]
            if let value, !(value.isEmpty && reference.fallback != nil) {
                output += value
            } else if let fallback = reference.fallback {
                output += fallback
            } else {
                report(path, mark, "environment variable `\(reference.name)` is not set and has no default")
                missing = true
            }
            rest = afterOpen[reference.end...]
        }
        output += rest
        return missing ? nil : output
    }

    /// Parses `NAME}` or `NAME:-default}` after `${`.
    private static func parseReference(
        _ text: Substring
    ) -> (name: String, fallback: String?, end: Substring.Index)? {
        var index = text.startIndex
        guard index < text.endIndex, text[index] == "_" || (text[index].isASCII && text[index].isLetter) else {
            return nil
        }
        while index < text.endIndex,
            text[index] == "_" || (text[index].isASCII && (text[index].isLetter || text[index].isNumber))
        {
            index = text.index(after: index)
        }
        let name = String(text[text.startIndex..<index])
        guard index < text.endIndex else { return nil }
        if text[index] == "}" { return (name, nil, text.index(after: index)) }
        guard text[index...].hasPrefix(":-") else { return nil }
        let defaultStart = text.index(index, offsetBy: 2)
        guard let close = text[defaultStart...].firstIndex(of: "}") else { return nil }
        return (name, String(text[defaultStart..<close]), text.index(after: close))
    }

    // MARK: Typed values of a mapping

    /// A string; numbers and booleans are taken as their text.
    mutating func string(_ mapping: ConfigMapping, _ key: String) -> String? {
        guard let node = mapping.value(key) else { return nil }
        return text(node, path: mapping.path(of: key), expected: "a string")
    }

    /// A string that must be present.
    mutating func requiredString(_ mapping: ConfigMapping, _ key: String, hint: String = "") -> String? {
        guard let value = string(mapping, key) else {
            if mapping.value(key).map(Self.isNull) ?? true { report(mapping, key, "required" + hint) }
            return nil
        }
        return value
    }

    /// A string checked by `validate`, which returns a reason when the value is bad.
    mutating func string(
        _ mapping: ConfigMapping,
        _ key: String,
        required: Bool = false,
        validate: (String) -> String?
    ) -> String? {
        let value = required ? requiredString(mapping, key) : string(mapping, key)
        guard let value else { return nil }
        if let problem = validate(value) {
            report(mapping, key, problem)
            return nil
        }
        return value
    }

    /// A whole number in `range`.
    mutating func int(_ mapping: ConfigMapping, _ key: String, _ range: ClosedRange<Int>) -> Int? {
        guard let node = mapping.value(key),
            let text = text(node, path: mapping.path(of: key), expected: "an integer")
        else { return nil }
        let trimmed = text.trimmingSpaces
        guard let value = Self.parseInteger(trimmed) else {
            let kind = Double(trimmed) != nil ? "a whole number" : "an integer"
            report(mapping, key, "expected \(kind), got \(Self.show(text))")
            return nil
        }
        return checkRange(value, range, mapping, key, format: { String($0) })
    }

    /// A number (integer or decimal) in `range`.
    mutating func double(_ mapping: ConfigMapping, _ key: String, _ range: ClosedRange<Double>) -> Double? {
        guard let node = mapping.value(key),
            let text = text(node, path: mapping.path(of: key), expected: "a number")
        else { return nil }
        guard let value = Double(text.trimmingSpaces), value.isFinite else {
            report(mapping, key, "expected a number, got \(Self.show(text))")
            return nil
        }
        if value < range.lowerBound {
            report(mapping, key, "\(value) is below the minimum \(range.lowerBound)")
            return nil
        }
        if value > range.upperBound {
            report(mapping, key, "\(value) is above the maximum \(range.upperBound)")
            return nil
        }
        return value
    }

    /// `true` or `false`.
    mutating func bool(_ mapping: ConfigMapping, _ key: String) -> Bool? {
        guard let node = mapping.value(key),
            let text = text(node, path: mapping.path(of: key), expected: "true or false")
        else { return nil }
        switch text.trimmingSpaces.lowercased() {
        case "true": return true
        case "false": return false
        default:
            report(mapping, key, "expected true or false, got \(Self.show(text))")
            return nil
        }
    }

    /// A byte size: an integer, or a number with a unit (`512KiB`, `64MiB`, `1GiB`, `1MB`; see ``ByteSize``).
    mutating func size(_ mapping: ConfigMapping, _ key: String, _ range: ClosedRange<Int>) -> Int? {
        guard let node = mapping.value(key),
            let text = text(node, path: mapping.path(of: key), expected: "a size")
        else { return nil }
        switch ByteSize.parse(text) {
        case .success(let value):
            return checkRange(value, range, mapping, key, format: ByteSize.format)
        case .failure(let reason):
            report(mapping, key, reason.message)
            return nil
        }
    }

    /// One of `choices` (compared case-insensitively).
    mutating func choice<Value>(
        _ mapping: ConfigMapping,
        _ key: String,
        _ choices: KeyValuePairs<String, Value>,
        shown: [String]? = nil
    ) -> Value? {
        guard let node = mapping.value(key),
            let text = text(node, path: mapping.path(of: key), expected: "a string")
        else { return nil }
        let wanted = text.trimmingSpaces.lowercased()
        if let match = choices.first(where: { $0.key.lowercased() == wanted }) { return match.value }
        let names = shown ?? choices.map(\.key)
        var message = "expected one of " + names.map { "`\($0)`" }.joined(separator: ", ") + ", got \(Self.show(text))"
        if let suggestion = Suggestion.closest(to: text, among: names) { message += "; did you mean `\(suggestion)`?" }
        report(mapping, key, message)
        return nil
    }

    /// A list of scalars; `nil` when absent, null, or not a list (reported).
    mutating func list(_ mapping: ConfigMapping, _ key: String, expected: String) -> [ConfigListItem]? {
        guard let node = mapping.value(key), !Self.isNull(node) else { return nil }
        let path = mapping.path(of: key)
        guard case .sequence(let sequence) = node else {
            report(path, node.mark, "expected a list of \(expected), got \(Self.describe(node))")
            return nil
        }
        var items: [ConfigListItem] = []
        var complete = true
        for (index, element) in sequence.enumerated() {
            let elementPath = "\(path)[\(index)]"
            if Self.isNull(element) {
                report(elementPath, element.mark ?? node.mark, "expected \(expected), got an empty value")
                complete = false
                continue
            }
            guard let text = text(element, path: elementPath, expected: expected) else {
                complete = false
                continue
            }
            items.append(ConfigListItem(text: text, path: elementPath, mark: element.mark ?? node.mark))
        }
        return complete ? items : nil
    }

    private mutating func checkRange(
        _ value: Int,
        _ range: ClosedRange<Int>,
        _ mapping: ConfigMapping,
        _ key: String,
        format: (Int) -> String
    ) -> Int? {
        if value < range.lowerBound {
            report(mapping, key, "\(format(value)) is below the minimum \(format(range.lowerBound))")
            return nil
        }
        if value > range.upperBound {
            report(mapping, key, "\(format(value)) is above the maximum \(format(range.upperBound))")
            return nil
        }
        return value
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
            if best == nil || distance < best!.distance { best = (candidate, distance) }
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
    struct Failure: Error {
        var message: String
    }

    static let units: [(name: String, factor: Int)] = [
        ("b", 1),
        ("kb", 1000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40),
    ]

    static func parse(_ text: String) -> Result<Int, Failure> {
        let trimmed = text.trimmingSpaces
        let digits = trimmed.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = String(trimmed.dropFirst(digits.count)).trimmingSpaces.lowercased()
        let example = "such as `1048576`, `512KiB`, `64MiB`, `1GiB` or `1MB`"
        guard !digits.isEmpty, let number = Int(digits) else {
            if trimmed.hasPrefix("-") { return .failure(Failure(message: "a size cannot be negative, got `\(text)`")) }
            return .failure(Failure(message: "expected a size \(example), got \(ConfigReader.show(text))"))
        }
        if unit.isEmpty { return .success(number) }
        if ["k", "m", "g", "t"].contains(unit) {
            let upper = unit.uppercased()
            return .failure(
                Failure(
                    message: "the unit `\(upper)` is ambiguous; write `\(upper)iB` (powers of 1024) "
                        + "or `\(upper)B` (powers of 1000)"
                )
            )
        }
        guard let factor = units.first(where: { $0.name == unit })?.factor else {
            return .failure(Failure(message: "unknown size unit in \(ConfigReader.show(text)); \(example)"))
        }
        let (product, overflow) = number.multipliedReportingOverflow(by: factor)
        guard !overflow else { return .failure(Failure(message: "\(ConfigReader.show(text)) is too large")) }
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
