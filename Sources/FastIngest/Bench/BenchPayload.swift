/// The payload `rivven-mqtt bench` publishes: an ASCII header with the message's sequence number and its publish
/// time, padded with `x` to the payload size.
///
/// Header (``headerSize`` bytes): `RB`, the sequence number as 10 lowercase hex digits, `.`, the publish time as 16
/// hex digits (CLOCK_MONOTONIC nanoseconds of the publishing process, which is also the measuring process), `.`.
/// ASCII that is not JSON, so the gateway's envelope carries it verbatim as the JSON string `data.payload`; ``find(in:)``
/// locates it in a raw record value and in an envelope alike.
package enum BenchPayload {
    /// Bytes of the header; the smallest payload the bench can publish.
    package static let headerSize = 30

    private static let marker0 = UInt8(ascii: "R")
    private static let marker1 = UInt8(ascii: "B")
    private static let separator = UInt8(ascii: ".")
    private static let padding = UInt8(ascii: "x")
    private static let quote = UInt8(ascii: "\"")
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    /// The largest sequence number 10 hex digits hold.
    package static let maximumSequence: UInt64 = (1 << 40) - 1

    /// A payload of `size` bytes (at least ``headerSize``): a zero header and the padding.
    package static func template(size: Int) -> [UInt8] {
        precondition(size >= headerSize, "a bench payload needs at least \(headerSize) bytes")
        var bytes = [UInt8](repeating: padding, count: size)
        write(sequence: 0, publishedAt: 0, into: &bytes)
        return bytes
    }

    /// Writes the header into the first ``headerSize`` bytes of `payload`.
    package static func write(sequence: UInt64, publishedAt: Int64, into payload: inout [UInt8]) {
        precondition(payload.count >= headerSize && sequence <= maximumSequence)
        payload.withUnsafeMutableBufferPointer { out in
            out[0] = marker0
            out[1] = marker1
            var value = sequence
            for index in stride(from: 11, through: 2, by: -1) {
                out[index] = hexDigits[Int(value & 0xF)]
                value >>= 4
            }
            out[12] = separator
            var time = UInt64(bitPattern: publishedAt)
            for index in stride(from: 28, through: 13, by: -1) {
                out[index] = hexDigits[Int(time & 0xF)]
                time >>= 4
            }
            out[29] = separator
        }
    }

    /// The header at the start of `bytes`, or nil when there is none.
    package static func parse(_ bytes: UnsafeRawBufferPointer) -> (sequence: UInt64, publishedAt: Int64)? {
        guard bytes.count >= headerSize, bytes[0] == marker0, bytes[1] == marker1, bytes[12] == separator,
            bytes[29] == separator
        else { return nil }
        guard let sequence = hexValue(bytes, 2..<12), let time = hexValue(bytes, 13..<29) else { return nil }
        return (sequence, Int64(bitPattern: time))
    }

    /// The header in a record value: at its start (raw records), or right after the first `"RB` (the JSON string
    /// of an envelope's `data.payload`). Nil when neither holds one.
    package static func find(in value: UnsafeRawBufferPointer) -> (sequence: UInt64, publishedAt: Int64)? {
        if let header = parse(value) { return header }
        guard value.count > headerSize else { return nil }
        var index = 0
        let last = value.count - headerSize - 1
        while index <= last {
            if value[index] == quote && value[index + 1] == marker0 && value[index + 2] == marker1 {
                return parse(UnsafeRawBufferPointer(rebasing: value[(index + 1)...]))
            }
            index += 1
        }
        return nil
    }

    private static func hexValue(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        var value: UInt64 = 0
        for index in range {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
