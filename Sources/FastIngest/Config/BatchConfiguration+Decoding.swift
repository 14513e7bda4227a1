extension BatchConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case maxMessages = "max_messages"
        case maxBytes = "max_bytes"
        case lingerMs = "linger_ms"
    }

    /// Decodes `batch:`; a bad key is reported and keeps its default.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        maxMessages = container.integer(.maxMessages, in: 1...10_000) ?? maxMessages
        maxBytes = container.size(.maxBytes, in: (1 << 10)...(8 << 20)) ?? maxBytes
        lingerMs = container.integer(.lingerMs, in: 0...10_000) ?? lingerMs
        try container.finish()
    }
}
