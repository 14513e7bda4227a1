/// Reads postcard-encoded values from borrowed bytes, strictly (WIRE.md §3).
///
/// Every read checks the bounds first and throws ``RivvenCodecError`` instead of reading past the end, so any input —
/// truncated, tampered with or random — yields either values or an error, never a trap. The reader is stricter than
/// the broker: it accepts only what ``PostcardWriter`` produces (shortest varints, `00`/`01` for bools and option tags,
/// valid UTF-8), so a payload that decodes re-encodes to the same bytes.
///
/// The reader borrows `UnsafeRawBufferPointer` memory: create it inside `withUnsafeBytes` (or use
/// `PostcardReader.withReader(over:positionBase:_:)`) and do not let it escape. Positions in errors are
/// `positionBase` plus the offset in the buffer, so a payload read from a frame can report frame positions.
public struct PostcardReader {
    /// The bytes being read.
    private let bytes: UnsafeRawBufferPointer
    /// Index of the next byte to read in `bytes`.
    public private(set) var offset: Int
    /// Added to offsets in errors and in ``position``.
    public let positionBase: Int

    /// Creates a reader at the start of `bytes`, which must stay valid while the reader is used.
    public init(unsafeBytes bytes: UnsafeRawBufferPointer, positionBase: Int = 0) {
        self.bytes = bytes
        self.offset = 0
        self.positionBase = positionBase
    }

    /// Runs `body` with a reader over `bytes`.
    public static func withReader<Result>(
        over bytes: [UInt8],
        positionBase: Int = 0,
        _ body: (inout PostcardReader) throws(RivvenCodecError) -> Result
    ) throws(RivvenCodecError) -> Result {
        try withReader(over: bytes[...], positionBase: positionBase, body)
    }

    /// Runs `body` with a reader over `bytes` (offset 0 is the slice's first byte, whatever its index).
    public static func withReader<Result>(
        over bytes: ArraySlice<UInt8>,
        positionBase: Int = 0,
        _ body: (inout PostcardReader) throws(RivvenCodecError) -> Result
    ) throws(RivvenCodecError) -> Result {
        // `withUnsafeBytes` is `rethrows` (untyped), so the typed error travels out in a `Result`.
        let outcome = bytes.withUnsafeBytes { raw in
            Swift.Result { () throws(RivvenCodecError) -> Result in
                var reader = PostcardReader(unsafeBytes: raw, positionBase: positionBase)
                return try body(&reader)
            }
        }
        return try outcome.get()
    }

    /// The number of bytes not read yet.
    public var remainingCount: Int { bytes.count - offset }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset >= bytes.count }

    /// The position of the next byte, as reported in errors (`positionBase + offset`).
    public var position: Int { positionBase + offset }

    /// Throws ``RivvenCodecError/Code/trailingBytes`` unless every byte has been read.
    public func expectEnd() throws(RivvenCodecError) {
        if offset < bytes.count {
            throw RivvenCodecError(.trailingBytes, at: position, value: UInt64(bytes.count - offset))
        }
    }

    private func failure(_ code: RivvenCodecError.Code, at offset: Int, value: UInt64 = 0) -> RivvenCodecError {
        RivvenCodecError(code, at: positionBase + offset, value: value)
    }

    // MARK: Integers

    /// Reads a `u8`: one raw byte.
    public mutating func readU8() throws(RivvenCodecError) -> UInt8 {
        guard offset < bytes.count else { throw failure(.truncated, at: offset) }
        let byte = bytes[offset]
        offset += 1
        return byte
    }

    /// Reads an unsigned varint of at most `maxBytes` bytes whose value must not exceed `maxValue`.
    ///
    /// Rejects a byte with the continuation bit at position `maxBytes` and a zero final group after the first byte
    /// (``RivvenCodecError/Code/overlongVarint``), and a final group that overflows `maxValue`
    /// (``RivvenCodecError/Code/varintOverflow``); both are reported at the varint's first byte.
    private mutating func readVarint(maxBytes: Int, maxValue: UInt64) throws(RivvenCodecError) -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for index in 0..<maxBytes {
            guard offset < bytes.count else { throw failure(.truncated, at: offset) }
            let byte = bytes[offset]
            offset += 1
            let group = UInt64(byte & 0x7F)
            if index == maxBytes - 1 {
                if byte & 0x80 != 0 { throw failure(.overlongVarint, at: start) }
                // Earlier groups always fit; only the last one can carry bits beyond the type.
                if group > maxValue >> shift { throw failure(.varintOverflow, at: start) }
            }
            result |= group << shift
            if byte & 0x80 == 0 {
                if byte == 0 && index > 0 { throw failure(.overlongVarint, at: start) }
                return result
            }
            shift += 7
        }
        // Unreachable: the last permitted byte either ends the varint or throws.
        throw failure(.overlongVarint, at: start)
    }

    /// Reads a `u16` varint (at most 3 bytes).
    public mutating func readU16() throws(RivvenCodecError) -> UInt16 {
        UInt16(truncatingIfNeeded: try readVarint(maxBytes: 3, maxValue: UInt64(UInt16.max)))
    }

    /// Reads a `u32` varint (at most 5 bytes).
    public mutating func readU32() throws(RivvenCodecError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readVarint(maxBytes: 5, maxValue: UInt64(UInt32.max)))
    }

    /// Reads a `u64` (or `usize`) varint (at most 10 bytes).
    public mutating func readU64() throws(RivvenCodecError) -> UInt64 {
        try readVarint(maxBytes: 10, maxValue: UInt64.max)
    }

    /// Reads a zigzag `i32` (at most 5 bytes).
    public mutating func readI32() throws(RivvenCodecError) -> Int32 {
        let zigzag = UInt32(truncatingIfNeeded: try readVarint(maxBytes: 5, maxValue: UInt64(UInt32.max)))
        return Int32(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    /// Reads a zigzag `i64` (at most 10 bytes).
    public mutating func readI64() throws(RivvenCodecError) -> Int64 {
        let zigzag = try readVarint(maxBytes: 10, maxValue: UInt64.max)
        return Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    // MARK: Tags

    /// Reads a `bool`: `00` or `01`, anything else is ``RivvenCodecError/Code/invalidBool``.
    public mutating func readBool() throws(RivvenCodecError) -> Bool {
        let start = offset
        switch try readU8() {
        case 0: return false
        case 1: return true
        case let byte: throw failure(.invalidBool, at: start, value: UInt64(byte))
        }
    }

    /// Reads an `Option` tag: `00` (None, returns false) or `01` (Some, returns true); anything else is
    /// ``RivvenCodecError/Code/invalidOption``.
    public mutating func readOptionTag() throws(RivvenCodecError) -> Bool {
        let start = offset
        switch try readU8() {
        case 0: return false
        case 1: return true
        case let byte: throw failure(.invalidOption, at: start, value: UInt64(byte))
        }
    }

    /// Reads an enum variant index (a `u32` varint).
    public mutating func readVariantIndex() throws(RivvenCodecError) -> UInt32 {
        try readU32()
    }

    /// Reads a `Vec`/map element count.
    ///
    /// Every element this protocol defines takes at least one byte, so a count above ``remainingCount`` is reported
    /// as ``RivvenCodecError/Code/truncated`` before anything is allocated; a count above `limit` (when given) is
    /// ``RivvenCodecError/Code/limitExceeded``.
    public mutating func readCount(limit: Int? = nil) throws(RivvenCodecError) -> Int {
        let start = offset
        let count = try readU64()
        if let limit, count > UInt64(limit) { throw failure(.limitExceeded, at: start, value: count) }
        if count > UInt64(remainingCount) { throw failure(.truncated, at: offset, value: count) }
        return Int(count)
    }

    // MARK: Byte strings

    /// Reads a length-prefixed byte string and returns the bytes in place (valid as long as the reader's memory).
    /// A length above `limit` (when given) is ``RivvenCodecError/Code/limitExceeded``.
    public mutating func readBorrowedBytes(limit: Int? = nil) throws(RivvenCodecError) -> UnsafeRawBufferPointer {
        let start = offset
        let length = try readU64()
        if let limit, length > UInt64(limit) { throw failure(.limitExceeded, at: start, value: length) }
        if length > UInt64(remainingCount) { throw failure(.truncated, at: offset, value: length) }
        let end = offset + Int(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
        offset = end
        return slice
    }

    /// Reads a length-prefixed byte string (`Bytes`, `Vec<u8>`) into a new array.
    public mutating func readBytes(limit: Int? = nil) throws(RivvenCodecError) -> [UInt8] {
        [UInt8](try readBorrowedBytes(limit: limit))
    }

    /// Reads a `String`: a length-prefixed byte string that must be valid UTF-8
    /// (``RivvenCodecError/Code/invalidUTF8`` at its first byte otherwise).
    public mutating func readString(limit: Int? = nil) throws(RivvenCodecError) -> String {
        let raw = try readBorrowedBytes(limit: limit)
        guard let string = String(validating: raw, as: UTF8.self) else {
            throw failure(.invalidUTF8, at: offset - raw.count)
        }
        return string
    }

    // MARK: Options

    /// Reads an `Option<u32>`.
    public mutating func readOptionalU32() throws(RivvenCodecError) -> UInt32? {
        guard try readOptionTag() else { return nil }
        return try readU32()
    }

    /// Reads an `Option<u64>`.
    public mutating func readOptionalU64() throws(RivvenCodecError) -> UInt64? {
        guard try readOptionTag() else { return nil }
        return try readU64()
    }

    /// Reads an `Option<String>`.
    public mutating func readOptionalString(limit: Int? = nil) throws(RivvenCodecError) -> String? {
        guard try readOptionTag() else { return nil }
        return try readString(limit: limit)
    }

    /// Reads an `Option<Bytes>`.
    public mutating func readOptionalBytes(limit: Int? = nil) throws(RivvenCodecError) -> [UInt8]? {
        guard try readOptionTag() else { return nil }
        return try readBytes(limit: limit)
    }
}
