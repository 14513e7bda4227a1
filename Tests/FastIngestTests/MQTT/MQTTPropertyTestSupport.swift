import FastIngest

/// Builds ``MQTTPropertyBlock``s from readable values, and reads them back into the same form.
enum PropertyFixture: Equatable, CustomStringConvertible {
    case user(String, String)
    case contentType(String)
    case expiry(UInt32)
    case responseTopic(String)
    case correlation([UInt8])
    case formatIndicator(UInt8)

    /// The block holding `entries` in order.
    static func block(_ entries: [PropertyFixture]) -> [UInt8] {
        var block: [UInt8] = []
        for entry in entries {
            switch entry {
            case .user(let name, let value):
                Array(name.utf8).withUnsafeBytes { n in
                    Array(value.utf8).withUnsafeBytes { v in
                        MQTTPropertyBlock.appendUserProperty(name: n, value: v, to: &block)
                    }
                }
            case .contentType(let value):
                Array(value.utf8).withUnsafeBytes { MQTTPropertyBlock.appendContentType($0, to: &block) }
            case .expiry(let seconds):
                MQTTPropertyBlock.appendMessageExpiryInterval(seconds, to: &block)
            case .responseTopic(let value):
                Array(value.utf8).withUnsafeBytes { MQTTPropertyBlock.appendResponseTopic($0, to: &block) }
            case .correlation(let bytes):
                bytes.withUnsafeBytes { MQTTPropertyBlock.appendCorrelationData($0, to: &block) }
            case .formatIndicator(let value):
                MQTTPropertyBlock.appendPayloadFormatIndicator(value, to: &block)
            }
        }
        return block
    }

    /// The entries of `block`, in order.
    static func entries(_ block: UnsafeRawBufferPointer) -> [PropertyFixture] {
        MQTTPropertyBlock.Entries(block).map { entry in
            switch entry {
            case .userProperty(let name, let value): .user(text(name), text(value))
            case .contentType(let value): .contentType(text(value))
            case .messageExpiryInterval(let seconds): .expiry(seconds)
            case .responseTopic(let value): .responseTopic(text(value))
            case .correlationData(let bytes): .correlation(Array(bytes))
            case .payloadFormatIndicator(let value): .formatIndicator(value)
            }
        }
    }

    static func entries(_ block: [UInt8]) -> [PropertyFixture] {
        block.withUnsafeBytes { entries($0) }
    }

    private static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    var description: String {
        switch self {
        case .user(let name, let value): "user(\(name)=\(value))"
        case .contentType(let value): "contentType(\(value))"
        case .expiry(let seconds): "expiry(\(seconds))"
        case .responseTopic(let value): "responseTopic(\(value))"
        case .correlation(let bytes): "correlation(\(bytes))"
        case .formatIndicator(let value): "formatIndicator(\(value))"
        }
    }

    /// Every kind, user properties with a duplicate name and non-ASCII text, a binary correlation value.
    static let full: [PropertyFixture] = [
        .user("device", "dev-1"),
        .contentType("application/json"),
        .user("device", "dev-2"),
        .expiry(3600),
        .user("naïve ключ", "wert \"ü\" \\ 🚀"),
        .responseTopic("replies/dev-1"),
        .correlation([0x00, 0xFF, 0x10, 0x80, 0x41]),
        .formatIndicator(1),
    ]
}
