/// Standard (RFC 4648 §4) Base64 with `=` padding, written into a caller-owned buffer.
public enum Base64 {
    /// Appends the padded standard-alphabet encoding of `bytes` to `out`.
    public static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.appendWithin(maxCount: encodedLength(bytes.count)) { write(bytes, to: &$0) }
    }

    /// Length of the padded encoding of `count` bytes.
    static func encodedLength(_ count: Int) -> Int {
        (count + 2) / 3 * 4
    }

    static func write(_ bytes: UnsafeRawBufferPointer, to writer: inout ByteWriter) {
        let count = bytes.count
        var index = 0
        while index + 3 <= count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            writer.put(symbol(chunk >> 18))
            writer.put(symbol(chunk >> 12))
            writer.put(symbol(chunk >> 6))
            writer.put(symbol(chunk))
            index += 3
        }
        let remaining = count - index
        if remaining == 1 {
            let chunk = UInt32(bytes[index]) << 16
            writer.put(symbol(chunk >> 18))
            writer.put(symbol(chunk >> 12))
            writer.put(UInt8(ascii: "="))
            writer.put(UInt8(ascii: "="))
        } else if remaining == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            writer.put(symbol(chunk >> 18))
            writer.put(symbol(chunk >> 12))
            writer.put(symbol(chunk >> 6))
            writer.put(UInt8(ascii: "="))
        }
    }

    /// The alphabet symbol for the low six bits of `sextet`.
    @inline(__always)
    private static func symbol(_ sextet: UInt32) -> UInt8 {
        let value = UInt8(truncatingIfNeeded: sextet & 0x3F)
        switch value {
        case 0..<26: return UInt8(ascii: "A") &+ value
        case 26..<52: return UInt8(ascii: "a") &+ (value &- 26)
        case 52..<62: return UInt8(ascii: "0") &+ (value &- 52)
        case 62: return UInt8(ascii: "+")
        default: return UInt8(ascii: "/")
        }
    }
}
