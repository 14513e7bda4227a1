/// Decimal integer output without building a `String`.
enum DecimalWriter {
    /// Appends `value` in decimal (like Rust's `itoa`).
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: 48 &+ value))
            return
        }
        // 20 digits hold UInt64.max; digits are produced backwards into a stack tuple.
        var storage: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &storage) { buffer in
            var position = buffer.count
            var rest = value
            while rest > 0 {
                position -= 1
                buffer[position] = UInt8(truncatingIfNeeded: 48 &+ rest % 10)
                rest /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    /// Appends `value` in decimal with a leading `-` when negative.
    static func append(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
        }
        append(value.magnitude, to: &out)
    }
}
