/// Floating-point numbers as serde_json 1.0.149 reads and writes them.
///
/// Reading follows serde_json's default (no `float_roundtrip`) algorithm: up to 19–20 significant digits are
/// accumulated in a `UInt64` (later digits are dropped, not rounded), converted with one rounding to `Double`, then
/// multiplied or divided once by an exact power of ten from a table (with 1e308 steps below 1e-308). This is not
/// always the nearest double, and it is what rivven-connect does.
///
/// Writing follows zmij 1.0 (`format_finite`, used by serde_json since 1.0.147): shortest round-trip digits, plain
/// decimal notation while the decimal exponent is within -5...15 (`0.00001`, `1000000000000000.0`), scientific
/// notation outside it with an explicit exponent sign (`1e-6`, `1e+16`, `1.5e+300`).
enum JSONFloat {
    /// Exact powers of ten 1e0...1e308 (serde_json's `POW10`); each literal is correctly rounded by the compiler.
    static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23,
        1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
        1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39,
        1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47,
        1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55,
        1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63,
        1e64, 1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71,
        1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79,
        1e80, 1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87,
        1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95,
        1e96, 1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103,
        1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110, 1e111,
        1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119,
        1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127,
        1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135,
        1e136, 1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143,
        1e144, 1e145, 1e146, 1e147, 1e148, 1e149, 1e150, 1e151,
        1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159,
        1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167,
        1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175,
        1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183,
        1e184, 1e185, 1e186, 1e187, 1e188, 1e189, 1e190, 1e191,
        1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199,
        1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207,
        1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214, 1e215,
        1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223,
        1e224, 1e225, 1e226, 1e227, 1e228, 1e229, 1e230, 1e231,
        1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239,
        1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247,
        1e248, 1e249, 1e250, 1e251, 1e252, 1e253, 1e254, 1e255,
        1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263,
        1e264, 1e265, 1e266, 1e267, 1e268, 1e269, 1e270, 1e271,
        1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
        1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287,
        1e288, 1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295,
        1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303,
        1e304, 1e305, 1e306, 1e307, 1e308,
    ]

    /// serde_json's `f64_from_parts` (default features).
    /// - Returns: nil when the result overflows to infinity (serde_json's "number out of range").
    static func fromParts(positive: Bool, significand: UInt64, exponent: Int32) -> Double? {
        var value = Double(significand)
        var exponent = exponent
        while true {
            let magnitude = exponent.magnitude
            if magnitude < 309 {
                let power = powersOfTen[Int(magnitude)]
                if exponent >= 0 {
                    value *= power
                    if value.isInfinite {
                        return nil
                    }
                } else {
                    value /= power
                }
                break
            }
            if value == 0 {
                break
            }
            if exponent >= 0 {
                return nil
            }
            value /= 1e308
            exponent += 308
        }
        return positive ? value : -value
    }

    /// Appends `value` (finite) the way zmij's `format_finite` prints it.
    static func append(_ value: Double, to out: inout [UInt8]) {
        if value == 0 {
            if value.sign == .minus {
                out.append(UInt8(ascii: "-"))
            }
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            out.append(UInt8(ascii: "0"))
            return
        }
        // Swift prints the shortest round-trip digits (closest to the exact value), the same digits as
        // Ryu/zmij; only the layout differs, so the digits and exponent are read back and laid out again.
        // `_writeASCII` hands the digits over from a stack buffer: no String, no allocation.
        var capture = ShortestDigitsCapture()
        value.write(to: &capture)
        var digits = DigitBuffer()
        var digitsBeforePoint = -1
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        capture.withBytes { text in
            for byte in text {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if inExponent {
                        exponent = exponent * 10 + Int(byte &- 48)
                    } else {
                        digits.append(byte)
                    }
                case UInt8(ascii: "."):
                    digitsBeforePoint = digits.count
                case UInt8(ascii: "e"), UInt8(ascii: "E"):
                    inExponent = true
                case UInt8(ascii: "-"):
                    if inExponent { exponentNegative = true }
                default:
                    break
                }
            }
        }
        if digitsBeforePoint < 0 {
            digitsBeforePoint = digits.count
        }
        if exponentNegative {
            exponent = -exponent
        }
        digits.withBytes { all in
            var first = 0
            while first < all.count - 1 && all[first] == UInt8(ascii: "0") { first += 1 }
            var end = all.count
            while end > first + 1 && all[end - 1] == UInt8(ascii: "0") { end -= 1 }
            let significant = UnsafeRawBufferPointer(rebasing: all[first..<end])
            // Scientific exponent: value = d.ddd × 10^scientific.
            let scientific = digitsBeforePoint - 1 - first + exponent
            if value.sign == .minus {
                out.append(UInt8(ascii: "-"))
            }
            layOut(significant, scientificExponent: scientific, to: &out)
        }
    }

    /// zmij's layout of significant digits `d1 d2 … dn` (no leading/trailing zeros) times 10^`scientificExponent`.
    static func layOut(_ digits: UnsafeRawBufferPointer, scientificExponent e: Int, to out: inout [UInt8]) {
        let length = digits.count
        if (-5...15).contains(e) {
            if length - 1 <= e {
                // 1234e7 -> 12340000000.0
                out.append(contentsOf: digits)
                for _ in 0..<(e + 1 - length) { out.append(UInt8(ascii: "0")) }
                out.append(UInt8(ascii: "."))
                out.append(UInt8(ascii: "0"))
            } else if e >= 0 {
                // 1234e-2 -> 12.34
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[0...e]))
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[(e + 1)...]))
            } else {
                // 1234e-6 -> 0.001234
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "."))
                for _ in 0..<(-e - 1) { out.append(UInt8(ascii: "0")) }
                out.append(contentsOf: digits)
            }
            return
        }
        // 1234e30 -> 1.234e+33
        out.append(digits[0])
        if length > 1 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[1...]))
        }
        out.append(UInt8(ascii: "e"))
        out.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        DecimalWriter.append(UInt64(e.magnitude), to: &out)
    }
}

/// A `TextOutputStream` with inline storage, used to receive the characters of `Double.write(to:)`.
struct ShortestDigitsCapture: TextOutputStream {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
    private var count = 0

    mutating func write(_ string: String) {
        for byte in string.utf8 { append(byte) }
    }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        for byte in buffer { append(byte) }
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        // 48 bytes is far more than the longest Double text (24 characters).
        guard count < 48 else { return }
        let position = count
        withUnsafeMutableBytes(of: &storage) { $0[position] = byte }
        count += 1
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = storage
        let length = count
        return withUnsafeBytes(of: &copy) { body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }
}

/// Up to 32 ASCII digits with inline storage.
struct DigitBuffer {
    private var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private(set) var count = 0

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        guard count < 32 else { return }
        let position = count
        withUnsafeMutableBytes(of: &storage) { $0[position] = byte }
        count += 1
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var copy = storage
        let length = count
        return withUnsafeBytes(of: &copy) { body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }
}
