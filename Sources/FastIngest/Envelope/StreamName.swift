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
            appendMapped(byte, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the stream-name form of one topic byte. Only ASCII bytes are mapped, so mapping the bytes of a
    /// UTF-8 string one by one equals mapping its characters.
    @inline(__always)
    static func appendMapped(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "/"):
            out.append(UInt8(ascii: "_"))
        case UInt8(ascii: "+"):
            out.append(contentsOf: singleSuffix)
        case UInt8(ascii: "#"):
            out.append(contentsOf: multiSuffix)
        default:
            out.append(byte)
        }
    }

    /// True for the bytes ``appendMapped(_:to:)`` rewrites.
    @inline(__always)
    static func isMapped(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#")
    }

    private static let singleSuffix: [UInt8] = Array("_single".utf8)
    private static let multiSuffix: [UInt8] = Array("_multi".utf8)
}
