extension MetricsConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case listen, prefix
    }

    /// Decodes `metrics:`; a bad key is reported and keeps its default.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        if let listen = container.string(.listen) {
            let lowered = listen.trimmingSpaces.lowercased()
            if lowered == "off" || lowered == "false" {
                self.listen = nil
            } else if let problem = HostPort.problem(listen, allowPortZero: true) {
                container.report(.listen, problem + "; or `off` to disable the endpoint")
            } else {
                self.listen = listen
            }
        }
        prefix = container.string(.prefix, validate: Self.prefixProblem) ?? prefix
        try container.finish()
    }

    static func prefixProblem(_ prefix: String) -> String? {
        guard let first = prefix.unicodeScalars.first else { return "cannot be empty" }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
        }
        guard isLetter(first), prefix.unicodeScalars.allSatisfy({ isLetter($0) || ("0"..."9").contains($0) }) else {
            return "\(ConfigText.show(prefix)) is not a Prometheus name prefix (`[A-Za-z_][A-Za-z0-9_]*`)"
        }
        return nil
    }
}
