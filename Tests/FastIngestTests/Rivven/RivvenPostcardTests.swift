import FastIngest
import Testing

/// Reads `bytes` with `read`, requiring that it consumes everything.
private func decode<T>(
    _ bytes: [UInt8],
    _ read: (inout PostcardReader) throws(RivvenCodecError) -> T
) throws(RivvenCodecError) -> T {
    try PostcardReader.withReader(over: bytes) { (reader) throws(RivvenCodecError) -> T in
        let value = try read(&reader)
        try reader.expectEnd()
        return value
    }
}

/// The error `read` throws on `bytes`, or nil when it succeeds.
private func failure<T>(
    _ bytes: [UInt8],
    positionBase: Int = 0,
    _ read: (inout PostcardReader) throws(RivvenCodecError) -> T
) -> RivvenCodecError? {
    do {
        _ = try PostcardReader.withReader(over: bytes, positionBase: positionBase) {
            (reader) throws(RivvenCodecError) -> T in try read(&reader)
        }
        return nil
    } catch {
        return error
    }
}

private func written(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
    var out: [UInt8] = []
    write(&out)
    return out
}

@Suite("Rivven postcard primitives")
struct RivvenPostcardTests {
    struct VarintCase: Sendable, CustomTestStringConvertible {
        var value: UInt64
        var bytes: [UInt8]
        var testDescription: String { "\(value)" }
    }

    /// WIRE.md §3's examples, plus the type bounds.
    static let varints: [VarintCase] = [
        VarintCase(value: 0, bytes: [0x00]),
        VarintCase(value: 10, bytes: [0x0A]),
        VarintCase(value: 127, bytes: [0x7F]),
        VarintCase(value: 128, bytes: [0x80, 0x01]),
        VarintCase(value: 300, bytes: [0xAC, 0x02]),
        VarintCase(value: 1000, bytes: [0xE8, 0x07]),
        VarintCase(value: 16383, bytes: [0xFF, 0x7F]),
        VarintCase(value: 16384, bytes: [0x80, 0x80, 0x01]),
        VarintCase(value: 65535, bytes: [0xFF, 0xFF, 0x03]),
        VarintCase(value: 10_485_760, bytes: [0x80, 0x80, 0x80, 0x05]),
        VarintCase(value: UInt64(UInt32.max), bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        VarintCase(value: UInt64(UInt32.max) + 1, bytes: [0x80, 0x80, 0x80, 0x80, 0x10]),
        VarintCase(value: UInt64.max, bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("varint table", arguments: varints)
    func varint(_ entry: VarintCase) throws {
        #expect(written { PostcardWriter.writeVarint(entry.value, into: &$0) } == entry.bytes)
        #expect(PostcardWriter.varintLength(entry.value) == entry.bytes.count)
        #expect(try decode(entry.bytes) { (r) throws(RivvenCodecError) in try r.readU64() } == entry.value)
        if let value = UInt32(exactly: entry.value) {
            #expect(try decode(entry.bytes) { (r) throws(RivvenCodecError) in try r.readU32() } == value)
        } else {
            // Beyond 35 bits the fifth byte still has its continuation bit set: too long rather than too big.
            let code = failure(entry.bytes) { (r) throws(RivvenCodecError) in try r.readU32() }?.code
            #expect(code == (entry.bytes.count > 5 ? .overlongVarint : .varintOverflow))
        }
        if let value = UInt16(exactly: entry.value) {
            #expect(try decode(entry.bytes) { (r) throws(RivvenCodecError) in try r.readU16() } == value)
        } else {
            #expect(failure(entry.bytes) { (r) throws(RivvenCodecError) in try r.readU16() } != nil)
        }
    }

    struct ZigzagCase: Sendable, CustomTestStringConvertible {
        var value: Int64
        var bytes: [UInt8]
        var testDescription: String { "\(value)" }
    }

    /// WIRE.md §3: 0→0, −1→1, 1→2, −2→3; fixture 037's 1699900000000 and fixture 039's −1; the bounds.
    static let zigzags: [ZigzagCase] = [
        ZigzagCase(value: 0, bytes: [0x00]),
        ZigzagCase(value: -1, bytes: [0x01]),
        ZigzagCase(value: 1, bytes: [0x02]),
        ZigzagCase(value: -2, bytes: [0x03]),
        ZigzagCase(value: 63, bytes: [0x7E]),
        ZigzagCase(value: -64, bytes: [0x7F]),
        ZigzagCase(value: 64, bytes: [0x80, 0x01]),
        ZigzagCase(value: 1_699_900_000_000, bytes: [0x80, 0x9C, 0xFC, 0x9E, 0xF9, 0x62]),
        ZigzagCase(value: Int64(Int32.max), bytes: [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
        ZigzagCase(value: Int64(Int32.min), bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        ZigzagCase(value: Int64.max, bytes: [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ZigzagCase(value: Int64.min, bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("zigzag table", arguments: zigzags)
    func zigzag(_ entry: ZigzagCase) throws {
        #expect(written { PostcardWriter.writeI64(entry.value, into: &$0) } == entry.bytes)
        #expect(try decode(entry.bytes) { (r) throws(RivvenCodecError) in try r.readI64() } == entry.value)
        if let value = Int32(exactly: entry.value) {
            #expect(written { PostcardWriter.writeI32(value, into: &$0) } == entry.bytes)
            #expect(try decode(entry.bytes) { (r) throws(RivvenCodecError) in try r.readI32() } == value)
        } else {
            #expect(failure(entry.bytes) { (r) throws(RivvenCodecError) in try r.readI32() } != nil)
        }
    }

    @Test("random integers round-trip in their shortest form")
    func randomRoundTrips() throws {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            // Spread the magnitudes: shift a random value right by a random amount.
            let raw = generator.next() >> UInt64.random(in: 0...63, using: &generator)
            let bytes = written { PostcardWriter.writeU64(raw, into: &$0) }
            #expect(bytes.count == PostcardWriter.varintLength(raw))
            #expect(bytes.last != 0 || bytes.count == 1)
            #expect(try decode(bytes) { (r) throws(RivvenCodecError) in try r.readU64() } == raw)
            let signed = Int64(bitPattern: raw) >> Int64.random(in: 0...10, using: &generator)
            let signedBytes = written { PostcardWriter.writeI64(signed, into: &$0) }
            #expect(try decode(signedBytes) { (r) throws(RivvenCodecError) in try r.readI64() } == signed)
            let small = Int32(truncatingIfNeeded: signed)
            let smallBytes = written { PostcardWriter.writeI32(small, into: &$0) }
            #expect(try decode(smallBytes) { (r) throws(RivvenCodecError) in try r.readI32() } == small)
            let half = UInt16(truncatingIfNeeded: raw)
            let halfBytes = written { PostcardWriter.writeU16(half, into: &$0) }
            #expect(try decode(halfBytes) { (r) throws(RivvenCodecError) in try r.readU16() } == half)
        }
    }

    struct BadVarint: Sendable, CustomTestStringConvertible {
        var type: String
        var bytes: [UInt8]
        var code: RivvenCodecError.Code
        var position: Int
        var testDescription: String { "\(type) \(bytes.map { String($0, radix: 16) })" }
    }

    static let badVarints: [BadVarint] = [
        // Not the shortest form.
        BadVarint(type: "u64", bytes: [0x80, 0x00], code: .overlongVarint, position: 0),
        BadVarint(type: "u32", bytes: [0xFF, 0x00], code: .overlongVarint, position: 0),
        BadVarint(type: "u16", bytes: [0x80, 0x80, 0x00], code: .overlongVarint, position: 0),
        BadVarint(type: "i64", bytes: [0x81, 0x80, 0x00], code: .overlongVarint, position: 0),
        // Longer than the type allows.
        BadVarint(type: "u16", bytes: [0x80, 0x80, 0x80, 0x01], code: .overlongVarint, position: 0),
        BadVarint(type: "u32", bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x8F, 0x00], code: .overlongVarint, position: 0),
        BadVarint(
            type: "u64",
            bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00],
            code: .overlongVarint,
            position: 0
        ),
        // Values beyond the type.
        BadVarint(type: "u16", bytes: [0xFF, 0xFF, 0x04], code: .varintOverflow, position: 0),
        BadVarint(type: "u32", bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x10], code: .varintOverflow, position: 0),
        BadVarint(type: "i32", bytes: [0x80, 0x80, 0x80, 0x80, 0x10], code: .varintOverflow, position: 0),
        BadVarint(
            type: "u64",
            bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
            code: .varintOverflow,
            position: 0
        ),
        BadVarint(
            type: "i64",
            bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F],
            code: .varintOverflow,
            position: 0
        ),
        // Cut short.
        BadVarint(type: "u64", bytes: [], code: .truncated, position: 0),
        BadVarint(type: "u64", bytes: [0x80], code: .truncated, position: 1),
        BadVarint(type: "u32", bytes: [0xFF, 0xFF, 0xFF], code: .truncated, position: 3),
    ]

    @Test("bad varints are refused", arguments: badVarints)
    func badVarint(_ entry: BadVarint) {
        let error = failure(entry.bytes, positionBase: 100) { (r) throws(RivvenCodecError) -> UInt64 in
            switch entry.type {
            case "u16": UInt64(try r.readU16())
            case "u32": UInt64(try r.readU32())
            case "i32": UInt64(bitPattern: Int64(try r.readI32()))
            case "i64": UInt64(bitPattern: try r.readI64())
            default: try r.readU64()
            }
        }
        #expect(error?.code == entry.code)
        #expect(error?.position == 100 + entry.position)
    }

    @Test("bool and option tags accept only 00 and 01")
    func tags() throws {
        #expect(try decode([0]) { (r) throws(RivvenCodecError) in try r.readBool() } == false)
        #expect(try decode([1]) { (r) throws(RivvenCodecError) in try r.readBool() } == true)
        #expect(try decode([0]) { (r) throws(RivvenCodecError) in try r.readOptionTag() } == false)
        #expect(try decode([1]) { (r) throws(RivvenCodecError) in try r.readOptionTag() } == true)
        for byte: UInt8 in [2, 0x7F, 0x80, 0xFF] {
            let bool = failure([0x05, byte]) { (r) throws(RivvenCodecError) in
                _ = try r.readU8()
                return try r.readBool()
            }
            #expect(bool == RivvenCodecError(.invalidBool, at: 1, value: UInt64(byte)))
            let option = failure([byte, 0x00]) { (r) throws(RivvenCodecError) in try r.readOptionalU32() }
            #expect(option == RivvenCodecError(.invalidOption, at: 0, value: UInt64(byte)))
        }
        #expect(failure([]) { (r) throws(RivvenCodecError) in try r.readBool() }?.code == .truncated)
        #expect(written { PostcardWriter.writeBool(true, into: &$0) } == [1])
        #expect(written { PostcardWriter.writeOptionalU32(nil, into: &$0) } == [0])
        #expect(written { PostcardWriter.writeOptionalU32(300, into: &$0) } == [1, 0xAC, 0x02])
        #expect(written { PostcardWriter.writeOptionalBytes([UInt8](), into: &$0) } == [1, 0])
    }

    @Test("strings: length-prefixed UTF-8, invalid UTF-8 refused at the string's first byte")
    func strings() throws {
        for text in ["", "a", "golden-one", "grüße", "日本語", "🚀 launch", "nul\u{0}inside"] {
            let bytes = written { PostcardWriter.writeString(text, into: &$0) }
            #expect(bytes == written { PostcardWriter.writeCount(text.utf8.count, into: &$0) } + Array(text.utf8))
            #expect(try decode(bytes) { (r) throws(RivvenCodecError) in try r.readString() } == text)
        }
        let invalid: [[UInt8]] = [
            [0xFF], [0x80], [0xC0, 0x80],  // lone continuation, overlong NUL
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xE2, 0x82],  // cut sequence
            [0x61, 0xF8, 0x88, 0x80, 0x80, 0x80],  // 5-byte form
        ]
        for sequence in invalid {
            let bytes = [0x07, UInt8(sequence.count)] + sequence
            let error = failure(bytes) { (r) throws(RivvenCodecError) in
                _ = try r.readU8()
                return try r.readString()
            }
            #expect(error == RivvenCodecError(.invalidUTF8, at: 2), "\(sequence)")
            // The same bytes are fine as `bytes`.
            #expect(
                failure(bytes) { (r) throws(RivvenCodecError) in
                    _ = try r.readU8()
                    return try r.readBytes()
                } == nil
            )
        }
    }

    @Test("lengths and counts beyond the input are truncation; beyond a limit, limitExceeded")
    func lengths() throws {
        #expect(
            failure([0x05, 0x61, 0x62]) { (r) throws(RivvenCodecError) in try r.readBytes() }
                == RivvenCodecError(.truncated, at: 1, value: 5)
        )
        #expect(
            failure([0x03, 0x00, 0x00]) { (r) throws(RivvenCodecError) in try r.readCount() }
                == RivvenCodecError(.truncated, at: 1, value: 3)
        )
        // A huge count is refused before anything is allocated.
        let huge: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(failure(huge) { (r) throws(RivvenCodecError) in try r.readCount() }?.code == .truncated)
        #expect(failure(huge) { (r) throws(RivvenCodecError) in try r.readBytes() }?.code == .truncated)
        #expect(
            failure([0x04, 1, 2, 3, 4]) { (r) throws(RivvenCodecError) in try r.readBytes(limit: 3) }
                == RivvenCodecError(.limitExceeded, at: 0, value: 4)
        )
        #expect(
            try decode([0x03, 1, 2, 3]) { (r) throws(RivvenCodecError) in try r.readBytes(limit: 3) } == [1, 2, 3]
        )
        #expect(
            failure([0x0B] + Array(repeating: 0, count: 11)) { (r) throws(RivvenCodecError) in
                try r.readCount(limit: 10)
            }?.code == .limitExceeded
        )
    }

    @Test("trailing bytes are refused; u8 is one raw byte")
    func trailingAndU8() throws {
        #expect(try decode([0xFF]) { (r) throws(RivvenCodecError) in try r.readU8() } == 0xFF)
        let error = failure([0x01, 0x02, 0x03]) { (r) throws(RivvenCodecError) in
            _ = try r.readU8()
            try r.expectEnd()
        }
        #expect(error == RivvenCodecError(.trailingBytes, at: 1, value: 2))
        #expect(written { PostcardWriter.writeU8(0x80, into: &$0) } == [0x80])
    }

    @Test("errors describe themselves")
    func errorDescription() {
        #expect(
            RivvenCodecError(.unknownVariant, at: 9, value: 77).description == "unknownVariant at byte 9 (value 77)"
        )
        #expect(RivvenCodecError(.truncated, at: 3).description == "truncated at byte 3")
    }
}
