/// Writes bytes into space reserved at the end of a `[UInt8]`, without per-byte capacity or uniqueness checks.
///
/// `Array.append` pays a uniqueness check and a capacity check per call, which dominated the envelope encoder.
/// ``Swift/Array/appendWithin(maxCount:_:)`` instead grows the array once by an upper bound, lends a writer over
/// that space, and trims the unused tail. Every write is still bounds-checked against the reserved end.
struct ByteWriter {
    /// Start of the array's storage.
    let base: UnsafeMutablePointer<UInt8>
    /// Next index to write (an index into the whole array).
    private(set) var position: Int
    /// One past the last index that may be written.
    let limit: Int

    init(base: UnsafeMutablePointer<UInt8>, position: Int, limit: Int) {
        self.base = base
        self.position = position
        self.limit = limit
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        precondition(position < limit, "ByteWriter: reserved space exceeded")
        base[position] = byte
        position += 1
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard count > 0 else { return }
        precondition(count <= limit - position, "ByteWriter: reserved space exceeded")
        UnsafeMutableRawPointer(base + position).copyMemory(from: bytes.baseAddress!, byteCount: count)
        position += count
    }

    /// Writes `bytes[start..<end]`.
    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) {
        if start < end {
            put(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        }
    }

    @inline(__always)
    mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { put($0) }
    }

    /// Writes again the bytes already written at `range` (which must end at or before the current position).
    @inline(__always)
    mutating func putCopy(of range: Range<Int>) {
        put(written(range))
    }

    /// Moves the write position back to `index` (discarding what was written after it).
    @inline(__always)
    mutating func rewind(to index: Int) {
        precondition(index <= position)
        position = index
    }

    /// The bytes written at `range` (indices into the whole array).
    @inline(__always)
    func written(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.upperBound <= position)
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Everything written so far (indices into the whole array).
    var writtenBytes: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base, count: position)
    }

    /// Replaces everything from `start` to the current position with `bytes` (which must fit the reserved space).
    mutating func replaceTail(from start: Int, with bytes: [UInt8]) {
        rewind(to: start)
        put(bytes)
    }

    // MARK: Numbers

    /// Decimal digits of `value` (like Rust's `itoa`).
    mutating func putDecimal(_ value: UInt64) {
        if value < 10 {
            put(UInt8(truncatingIfNeeded: 48 &+ value))
            return
        }
        var digits = 0
        var rest = value
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        precondition(digits <= limit - position, "ByteWriter: reserved space exceeded")
        var index = position + digits
        rest = value
        while rest > 0 {
            index -= 1
            base[index] = UInt8(truncatingIfNeeded: 48 &+ rest % 10)
            rest /= 10
        }
        position += digits
    }

    /// Decimal digits of `value` with a leading `-` when negative.
    mutating func putDecimal(_ value: Int64) {
        if value < 0 {
            put(UInt8(ascii: "-"))
        }
        putDecimal(value.magnitude)
    }

    /// Exactly `count` decimal digits of `value` (zero-padded; `value` must fit).
    mutating func putFixedDigits(_ value: Int64, count: Int) {
        precondition(count <= limit - position, "ByteWriter: reserved space exceeded")
        var rest = value
        var index = position + count
        while index > position {
            index -= 1
            base[index] = UInt8(truncatingIfNeeded: 48 &+ rest % 10)
            rest /= 10
        }
        position += count
    }
}

extension Array where Element == UInt8 {
    /// Appends at most `maxCount` bytes written by `body` through a ``ByteWriter``.
    ///
    /// The array grows once by `maxCount` zero bytes (amortised like any append), `body` writes from the old end, and
    /// the unused tail is removed; capacity is kept, so a warm buffer does not allocate.
    @inline(__always)
    @discardableResult
    mutating func appendWithin<Result>(maxCount: Int, _ body: (inout ByteWriter) -> Result) -> Result {
        let start = count
        let reserved = Swift.max(maxCount, 1)
        append(contentsOf: repeatElement(0, count: reserved))
        let (result, end) = withUnsafeMutableBufferPointer { buffer -> (Result, Int) in
            var writer = ByteWriter(base: buffer.baseAddress!, position: start, limit: start + reserved)
            let result = body(&writer)
            return (result, writer.position)
        }
        removeLast(start + reserved - end)
        return result
    }
}
