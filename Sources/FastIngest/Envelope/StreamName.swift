/// rivven-connect's stream name for an MQTT topic or topic filter.
public enum StreamName {
    /// rivven-connect stream name: `+`→`_single`, `#`→`_multi`, `/`→`_` (works for filters and concrete topics).
    ///
    /// Not for the hot path (it builds a `String`); ``EnvelopeEncoder`` writes the same mapping straight into its
    /// output buffer.
    public static func normalize(_ topicOrFilter: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(topicOrFilter.utf8.count + 8)
        for byte in topicOrFilter.utf8 {
            switch byte {
            case UInt8(ascii: "/"): bytes.append(UInt8(ascii: "_"))
            case UInt8(ascii: "+"): bytes.append(contentsOf: "_single".utf8)
            case UInt8(ascii: "#"): bytes.append(contentsOf: "_multi".utf8)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The most bytes one input byte becomes (`+` → `_single`).
    static let maxExpansion = 7

    /// Writes the stream-name form of one topic byte. Only ASCII bytes are mapped, so mapping the bytes of a UTF-8
    /// string one by one equals mapping its characters.
    @inline(__always)
    static func writeMapped(_ byte: UInt8, to writer: inout ByteWriter) {
        switch byte {
        case UInt8(ascii: "/"):
            writer.put(UInt8(ascii: "_"))
        case UInt8(ascii: "+"):
            writer.put(UInt8(ascii: "_"))
            writer.put(UInt8(ascii: "s"))
            writer.put(UInt8(ascii: "i"))
            writer.put(UInt8(ascii: "n"))
            writer.put(UInt8(ascii: "g"))
            writer.put(UInt8(ascii: "l"))
            writer.put(UInt8(ascii: "e"))
        case UInt8(ascii: "#"):
            writer.put(UInt8(ascii: "_"))
            writer.put(UInt8(ascii: "m"))
            writer.put(UInt8(ascii: "u"))
            writer.put(UInt8(ascii: "l"))
            writer.put(UInt8(ascii: "t"))
            writer.put(UInt8(ascii: "i"))
        default:
            writer.put(byte)
        }
    }

    /// True for the bytes ``writeMapped(_:to:)`` rewrites.
    @inline(__always)
    static func isMapped(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#")
    }
}
