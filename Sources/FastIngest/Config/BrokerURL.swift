/// The MQTT broker address of `config.broker_url`.
///
/// Accepted schemes: `mqtt://` and `tcp://` (plain, default port 1883); `mqtts://`, `ssl://` and
/// `tls://` (TLS, default port 8883). Schemes are case-insensitive. A URL without `://` is read as
/// plain `mqtt://`, as Rivven's mqtt-source does. The host is a name, an IPv4 address or a bracketed
/// IPv6 address (`[::1]`). Paths (other than a lone trailing `/`), queries, fragments and
/// `user:password@` are rejected: credentials belong in `auth.username` / `auth.password`.
public struct BrokerURL: Sendable, Equatable, CustomStringConvertible {
    /// The URL exactly as written in the configuration (after `${VAR}` expansion).
    public var original: String
    /// `true` for `mqtts`, `ssl` and `tls`; `false` for `mqtt` and `tcp`.
    public var useTLS: Bool
    /// The host name or address; an IPv6 address is given without brackets.
    public var host: String
    /// The port; 1883 (plain) or 8883 (TLS) when the URL names none.
    public var port: Int

    /// Creates a broker URL from its parts; `original` defaults to a canonical spelling.
    public init(original: String? = nil, useTLS: Bool, host: String, port: Int? = nil) {
        let resolvedPort = port ?? (useTLS ? 8883 : 1883)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        self.original = original ?? "\(useTLS ? "mqtts" : "mqtt")://\(hostPart):\(resolvedPort)"
        self.useTLS = useTLS
        self.host = host
        self.port = resolvedPort
    }

    /// The URL as written (`original`).
    public var description: String { original }

    /// The schemes accepted for plain TCP.
    static let plainSchemes = ["mqtt", "tcp"]
    /// The schemes accepted for TLS.
    static let tlsSchemes = ["mqtts", "ssl", "tls"]

    /// Parses a broker URL.
    ///
    /// - Throws: ``BrokerURLError`` whose `description` names the URL (with any userinfo hidden)
    ///   and what is wrong with it.
    public static func parse(_ text: String) throws(BrokerURLError) -> BrokerURL {
        func fail(_ code: BrokerURLError.Code, _ reason: String) -> BrokerURLError {
            BrokerURLError(code: code, url: BrokerURLError.redacted(text), reason: reason)
        }
        let trimmed = text
        guard !trimmed.isEmpty else { throw fail(.missingHost, "the URL is empty") }
        if trimmed.contains(where: { $0.isWhitespace }) {
            throw fail(.badHost, "the URL contains whitespace")
        }

        var rest = Substring(trimmed)
        var useTLS = false
        if let separator = trimmed.firstRange(of: "://") {
            let scheme = trimmed[trimmed.startIndex..<separator.lowerBound].lowercased()
            if plainSchemes.contains(scheme) {
                useTLS = false
            } else if tlsSchemes.contains(scheme) {
                useTLS = true
            } else {
                let accepted = (plainSchemes + tlsSchemes).map { "\($0)://" }.joined(separator: ", ")
                let shown = scheme.isEmpty ? "an empty scheme" : "scheme `\(scheme)`"
                throw fail(.badScheme, "\(shown) is not supported; use one of \(accepted)")
            }
            rest = trimmed[separator.upperBound...]
        }

        // The authority ends at the first '/', '?' or '#'.
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        let tail = rest[authorityEnd...]
        if authority.contains("@") {
            throw fail(.userInfo, "credentials in the URL are not allowed; use auth.username and auth.password")
        }
        if !tail.isEmpty {
            if tail.contains("?") {
                throw fail(.query, "a query (`?…`) is not allowed")
            }
            if tail.contains("#") {
                throw fail(.query, "a fragment (`#…`) is not allowed")
            }
            if tail != "/" {
                throw fail(.path, "a path (`\(tail)`) is not allowed")
            }
        }

        let host: Substring
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw fail(.badHost, "unclosed '[' in the IPv6 host")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else {
                throw fail(.badHost, "unexpected `\(after)` after the IPv6 host")
            }
            guard !host.isEmpty else { throw fail(.missingHost, "the host is missing") }
            let ipv6Characters = host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
            guard host.contains(":"), ipv6Characters else {
                throw fail(.badHost, "`[\(host)]` is not an IPv6 address")
            }
        } else {
            if let colon = authority.lastIndex(of: ":") {
                host = authority[authority.startIndex..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
                portText = nil
            }
            guard !host.isEmpty else { throw fail(.missingHost, "the host is missing") }
            if host.contains(":") {
                throw fail(.badHost, "an IPv6 host must be written in brackets, as in `mqtt://[::1]:1883`")
            }
            if let bad = host.first(where: { !Self.isHostCharacter($0) }) {
                throw fail(.badHost, "the host contains `\(bad)`, which is not allowed in a host name")
            }
        }

        var port = useTLS ? 8883 : 1883
        if let portText {
            guard !portText.isEmpty else { throw fail(.badPort, "the port after ':' is empty") }
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), portText.count <= 9,
                let value = Int(portText)
            else {
                throw fail(.badPort, "`\(portText)` is not a port number")
            }
            guard (1...65535).contains(value) else {
                throw fail(.badPort, "port \(value) is out of the range 1…65535")
            }
            port = value
        }
        return BrokerURL(original: text, useTLS: useTLS, host: String(host), port: port)
    }

    /// Letters, digits, `-`, `.` and `_` (some private DNS names use underscores).
    static func isHostCharacter(_ character: Character) -> Bool {
        (character.isASCII && (character.isLetter || character.isNumber)) || character == "-" || character == "."
            || character == "_"
    }
}

/// Why a broker URL was rejected.
public struct BrokerURLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem the URL has.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case badScheme = "bad scheme"
            case missingHost = "missing host"
            case badHost = "bad host"
            case badPort = "bad port"
            case path
            case query
            case userInfo = "user info"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The scheme is not one of `mqtt`, `tcp`, `mqtts`, `ssl`, `tls`.
        public static let badScheme = Code(.badScheme)
        /// There is no host.
        public static let missingHost = Code(.missingHost)
        /// The host is malformed (bad character, unbracketed or unclosed IPv6).
        public static let badHost = Code(.badHost)
        /// The port is not a number in 1…65535.
        public static let badPort = Code(.badPort)
        /// The URL has a path.
        public static let path = Code(.path)
        /// The URL has a query or a fragment.
        public static let query = Code(.query)
        /// The URL carries `user:password@`.
        public static let userInfo = Code(.userInfo)

        /// A short name of the code.
        public var description: String { value.rawValue }
    }

    /// What kind of problem it is.
    public var code: Code
    /// The URL as written, with any `user:password@` part replaced by `***@`.
    public var url: String
    /// What is wrong, in words.
    public var reason: String

    /// Creates an error.
    public init(code: Code, url: String, reason: String) {
        self.code = code
        self.url = url
        self.reason = reason
    }

    /// `invalid broker URL `URL`: REASON`.
    public var description: String { "invalid broker URL `\(url)`: \(reason)" }

    /// Hides the userinfo (which may hold a password) of a URL.
    static func redacted(_ url: String) -> String {
        let start = url.firstRange(of: "://")?.upperBound ?? url.startIndex
        let authorityEnd = url[start...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? url.endIndex
        guard let at = url[start..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<start]) + "***" + String(url[at...])
    }
}
