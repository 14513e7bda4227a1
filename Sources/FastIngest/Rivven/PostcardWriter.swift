/// Appends postcard-encoded values to a caller-owned byte buffer (WIRE.md §3).
///
/// Every function appends to `out` and nothing else: no intermediate buffers, no text. Integers are written in their
/// shortest (canonical) varint form, signed integers zigzag-encoded first, so what this writes is exactly what
/// ``PostcardReader`` accepts.
public enum PostcardWriter {
    /// Appends `value` as an unsigned LEB128 varint: 7 bits per byte, least significant group first, `0x80` set on
    /// every byte but the last. 1 to 10 bytes.
    public static func writeVarint(_ value: UInt64, into out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: rest))
    }

    /// The number of bytes ``writeVarint(_:into:)`` writes for `value` (1 to 10).
    public static func varintLength(_ value: UInt64) -> Int {
        // One byte per started group of 7 significant bits; 0 still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    /// Appends a `u8`: one raw byte, not a varint (only `Consume.isolation_level` has this type).
    public static func writeU8(_ value: UInt8, into out: inout [UInt8]) {
        out.append(value)
    }

    /// Appends a `u16` as a varint (1 to 3 bytes).
    public static func writeU16(_ value: UInt16, into out: inout [UInt8]) {
        writeVarint(UInt64(value), into: &out)
    }

    /// Appends a `u32` as a varint (1 to 5 bytes).
    public static func writeU32(_ value: UInt32, into out: inout [UInt8]) {
        writeVarint(UInt64(value), into: &out)
    }

    /// Appends a `u64` (or `usize`) as a varint (1 to 10 bytes).
    public static func writeU64(_ value: UInt64, into out: inout [UInt8]) {
        writeVarint(value, into: &out)
    }

    /// Appends an `i32`: zigzag (0→0, −1→1, 1→2, −2→3, …), then a varint (1 to 5 bytes).
    public static func writeI32(_ value: Int32, into out: inout [UInt8]) {
        writeVarint(UInt64(zigzag(value)), into: &out)
    }

    /// Appends an `i64`: zigzag, then a varint (1 to 10 bytes).
    public static func writeI64(_ value: Int64, into out: inout [UInt8]) {
        writeVarint(zigzag(value), into: &out)
    }

    /// Appends a `bool`: `00` or `01`.
    public static func writeBool(_ value: Bool, into out: inout [UInt8]) {
        out.append(value ? 1 : 0)
    }

    /// Appends an `Option` tag: `00` for None, `01` for Some (the value follows, written by the caller).
    public static func writeOptionTag(isSome: Bool, into out: inout [UInt8]) {
        out.append(isSome ? 1 : 0)
    }

    /// Appends a `Vec`/map element count (a varint); the elements follow, written by the caller.
    public static func writeCount(_ count: Int, into out: inout [UInt8]) {
        precondition(count >= 0, "PostcardWriter: negative count")
        writeVarint(UInt64(count), into: &out)
    }

    /// Appends a `String`: its UTF-8 byte count as a varint, then the bytes.
    public static func writeString(_ value: String, into out: inout [UInt8]) {
        let written: Void? = value.utf8.withContiguousStorageIfAvailable { utf8 in
            writeVarint(UInt64(utf8.count), into: &out)
            out.append(contentsOf: utf8)
        }
        if written == nil {
            // Not contiguous (a bridged or lazily built string): count, then copy the code units one by one.
            writeVarint(UInt64(value.utf8.count), into: &out)
            out.append(contentsOf: value.utf8)
        }
    }

    /// Appends bytes (`Bytes`, `Vec<u8>`): the length as a varint, then the raw bytes.
    public static func writeBytes(_ value: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        writeVarint(UInt64(value.count), into: &out)
        appendRaw(value, to: &out)
    }

    /// Appends bytes (`Bytes`, `Vec<u8>`): the length as a varint, then the raw bytes.
    public static func writeBytes(_ value: [UInt8], into out: inout [UInt8]) {
        writeVarint(UInt64(value.count), into: &out)
        out.append(contentsOf: value)
    }

    /// Appends an `Option<u32>`.
    public static func writeOptionalU32(_ value: UInt32?, into out: inout [UInt8]) {
        writeOptionTag(isSome: value != nil, into: &out)
        if let value { writeU32(value, into: &out) }
    }

    /// Appends an `Option<u64>`.
    public static func writeOptionalU64(_ value: UInt64?, into out: inout [UInt8]) {
        writeOptionTag(isSome: value != nil, into: &out)
        if let value { writeU64(value, into: &out) }
    }

    /// Appends an `Option<String>`.
    public static func writeOptionalString(_ value: String?, into out: inout [UInt8]) {
        writeOptionTag(isSome: value != nil, into: &out)
        if let value { writeString(value, into: &out) }
    }

    /// Appends an `Option<Bytes>`: `00`, or `01` then the bytes (`01 00` is Some(empty)).
    public static func writeOptionalBytes(_ value: [UInt8]?, into out: inout [UInt8]) {
        writeOptionTag(isSome: value != nil, into: &out)
        if let value { writeBytes(value, into: &out) }
    }

    /// Appends an `Option<Bytes>` from borrowed memory: `00`, or `01` then the bytes.
    public static func writeOptionalBytes(_ value: UnsafeRawBufferPointer?, into out: inout [UInt8]) {
        writeOptionTag(isSome: value != nil, into: &out)
        if let value { writeBytes(value, into: &out) }
    }

    /// The zigzag form of `value`: `(n << 1) ^ (n >> 31)`.
    public static func zigzag(_ value: Int32) -> UInt32 {
        UInt32(bitPattern: (value &<< 1) ^ (value >> 31))
    }

    /// The zigzag form of `value`: `(n << 1) ^ (n >> 63)`.
    public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value &<< 1) ^ (value >> 63))
    }

    /// Appends raw bytes with one copy (`UnsafeRawBufferPointer` copies its contents with `memcpy`).
    static func appendRaw(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(contentsOf: bytes)
    }
}
