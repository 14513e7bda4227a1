/// The MQTT 5 PUBLISH properties the gateway keeps, in a compact byte form that travels with the message through the
/// ring (copied once, with topic and payload) to the envelope encoder and the key extractor.
///
/// A block is a sequence of entries, each a tag byte followed by its value; lengths and integers are big-endian, as on
/// the MQTT wire:
///
/// | tag | property | value |
/// |---|---|---|
/// | 1 | user property | u16 name length, name, u16 value length, value (UTF-8) |
/// | 2 | content type | u16 length, UTF-8 |
/// | 3 | message expiry interval | u32 seconds |
/// | 4 | response topic | u16 length, UTF-8 |
/// | 5 | correlation data | u16 length, bytes |
/// | 6 | payload format indicator | u8 |
///
/// User properties keep their order and may repeat (MQTT allows duplicate names); the other properties appear at most
/// once. An empty block means the message has none of these properties (always so before MQTT 5).
///
/// Writing appends to a caller-owned buffer and reading lends slices of the block: neither allocates once the
/// buffer is warm.
public enum MQTTPropertyBlock {
    /// Entry tags.
    enum Tag: UInt8 {
        case userProperty = 1
        case contentType = 2
        case messageExpiryInterval = 3
        case responseTopic = 4
        case correlationData = 5
        case payloadFormatIndicator = 6
    }

    /// Appends a user property. `name` and `value` are at most 65535 bytes each (MQTT's string limit).
    public static func appendUserProperty(
        name: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer,
        to block: inout [UInt8]
    ) {
        block.append(Tag.userProperty.rawValue)
        appendSized(name, to: &block)
        appendSized(value, to: &block)
    }

    /// Appends the content type.
    public static func appendContentType(_ value: UnsafeRawBufferPointer, to block: inout [UInt8]) {
        block.append(Tag.contentType.rawValue)
        appendSized(value, to: &block)
    }

    /// Appends the message expiry interval (seconds).
    public static func appendMessageExpiryInterval(_ seconds: UInt32, to block: inout [UInt8]) {
        block.append(Tag.messageExpiryInterval.rawValue)
        block.append(UInt8(truncatingIfNeeded: seconds >> 24))
        block.append(UInt8(truncatingIfNeeded: seconds >> 16))
        block.append(UInt8(truncatingIfNeeded: seconds >> 8))
        block.append(UInt8(truncatingIfNeeded: seconds))
    }

    /// Appends the response topic.
    public static func appendResponseTopic(_ value: UnsafeRawBufferPointer, to block: inout [UInt8]) {
        block.append(Tag.responseTopic.rawValue)
        appendSized(value, to: &block)
    }

    /// Appends the correlation data (binary).
    public static func appendCorrelationData(_ value: UnsafeRawBufferPointer, to block: inout [UInt8]) {
        block.append(Tag.correlationData.rawValue)
        appendSized(value, to: &block)
    }

    /// Appends the payload format indicator (0 unspecified bytes, 1 UTF-8).
    public static func appendPayloadFormatIndicator(_ value: UInt8, to block: inout [UInt8]) {
        block.append(Tag.payloadFormatIndicator.rawValue)
        block.append(value)
    }

    private static func appendSized(_ bytes: UnsafeRawBufferPointer, to block: inout [UInt8]) {
        precondition(bytes.count <= Int(UInt16.max), "an MQTT string or binary value is at most 65535 bytes")
        block.append(UInt8(truncatingIfNeeded: bytes.count >> 8))
        block.append(UInt8(truncatingIfNeeded: bytes.count))
        block.append(contentsOf: bytes)
    }

    /// The value of the first user property named `name` in `block`, or nil.
    public static func firstUserProperty(
        named name: UnsafeRawBufferPointer,
        in block: UnsafeRawBufferPointer
    ) -> UnsafeRawBufferPointer? {
        var entries = Entries(block)
        while let entry = entries.next() {
            if case .userProperty(let key, let value) = entry, key.elementsEqual(name) {
                return value
            }
        }
        return nil
    }
}

/// One entry of an ``MQTTPropertyBlock``; the buffers are slices of the block.
public enum MQTTProperty {
    /// A user property (UTF-8 name and value; names may repeat).
    case userProperty(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// Content Type (UTF-8).
    case contentType(UnsafeRawBufferPointer)
    /// Message Expiry Interval in seconds, as the broker forwarded it (the time left).
    case messageExpiryInterval(UInt32)
    /// Response Topic (UTF-8).
    case responseTopic(UnsafeRawBufferPointer)
    /// Correlation Data (binary).
    case correlationData(UnsafeRawBufferPointer)
    /// Payload Format Indicator (0 unspecified bytes, 1 UTF-8).
    case payloadFormatIndicator(UInt8)
}

extension MQTTPropertyBlock {
    /// Iterates the entries of a block in order. A block is only ever written by this type's `append` functions; a
    /// truncated or unknown entry (which would be a bug) ends the iteration instead of reading past the block.
    public struct Entries: Sequence, IteratorProtocol {
        private let block: UnsafeRawBufferPointer
        private var index = 0

        /// Iterates `block`.
        public init(_ block: UnsafeRawBufferPointer) {
            self.block = block
        }

        /// The next entry, or nil at the end of the block.
        public mutating func next() -> MQTTProperty? {
            guard index < block.count, let tag = Tag(rawValue: block[index]) else { return nil }
            index += 1
            switch tag {
            case .userProperty:
                guard let name = sized(), let value = sized() else { return nil }
                return .userProperty(name: name, value: value)
            case .contentType:
                return sized().map { .contentType($0) }
            case .responseTopic:
                return sized().map { .responseTopic($0) }
            case .correlationData:
                return sized().map { .correlationData($0) }
            case .messageExpiryInterval:
                guard block.count - index >= 4 else { return end() }
                var value: UInt32 = 0
                for offset in 0..<4 { value = value << 8 | UInt32(block[index + offset]) }
                index += 4
                return .messageExpiryInterval(value)
            case .payloadFormatIndicator:
                guard index < block.count else { return end() }
                index += 1
                return .payloadFormatIndicator(block[index - 1])
            }
        }

        private mutating func sized() -> UnsafeRawBufferPointer? {
            guard block.count - index >= 2 else { return end() }
            let count = Int(block[index]) << 8 | Int(block[index + 1])
            guard block.count - index - 2 >= count else { return end() }
            let start = index + 2
            index = start + count
            return UnsafeRawBufferPointer(rebasing: block[start..<start + count])
        }

        /// Stops the iteration (a truncated entry).
        private mutating func end<Value>() -> Value? {
            index = block.count
            return nil
        }
    }
}
