import FastIngest
import Testing

@Suite("CRC32C")
struct LogCRC32CTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var crc: UInt32
        var testDescription: String { name }
    }

    // The check value of the Castagnoli CRC and the iSCSI test vectors of RFC 3720 §B.4.
    static let vectors: [Vector] = [
        Vector(name: "123456789", bytes: Array("123456789".utf8), crc: 0xE306_9283),
        Vector(name: "32 zero bytes", bytes: [UInt8](repeating: 0, count: 32), crc: 0x8A91_36AA),
        Vector(name: "32 0xFF bytes", bytes: [UInt8](repeating: 0xFF, count: 32), crc: 0x62A8_AB43),
        Vector(name: "32 incrementing bytes", bytes: (0..<32).map { UInt8($0) }, crc: 0x46DD_794E),
        Vector(name: "32 decrementing bytes", bytes: (0..<32).reversed().map { UInt8($0) }, crc: 0x113F_DB5C),
        Vector(name: "empty", bytes: [], crc: 0),
    ]

    @Test(arguments: vectors)
    func vector(_ vector: Vector) {
        #expect(CRC32C.checksum(vector.bytes) == vector.crc)
    }

    /// The plain bit-at-a-time definition, to check the table-driven code against.
    static func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test("matches the bitwise definition at every length and alignment")
    func matchesBitwise() {
        var generator = SplitMix64(seed: 7)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 7) {
                let slice = data[start..<end]
                let fast = slice.withUnsafeBytes { CRC32C.checksum($0) }
                #expect(fast == Self.bitwise(slice), "bytes \(start)..<\(end)")
            }
        }
    }

    @Test("update continues a checksum")
    func incremental() {
        let data = Array("The quick brown fox jumps over the lazy dog, twice over.".utf8)
        for split in 0...data.count {
            let first = data[..<split].withUnsafeBytes { CRC32C.checksum($0) }
            let whole = data[split...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(whole == CRC32C.checksum(data))
        }
    }
}

@Suite("LogRecordEncoder")
struct LogRecordEncoderTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    // Expected bytes written out by hand from the format table; the CRC computed independently (bitwise, Python).
    @Test("golden bytes: key, retain, QoS 1, raw value")
    func golden() {
        var out: [UInt8] = [0xAA]
        let topic = Array("a/b".utf8)
        let key = Array("k".utf8)
        let mark = topic.withUnsafeBytes { topic in
            key.withUnsafeBytes { key in
                LogRecordEncoder.begin(
                    offset: 5,
                    receiveTimeMicros: 0x0102_0304_0506_0708,
                    topic: topic,
                    qos: 1,
                    retain: true,
                    key: key,
                    valueIsEnvelope: false,
                    into: &out
                )
            }
        }
        #expect(mark.start == 1)
        #expect(mark.offset == 5)
        out.append(UInt8(ascii: "v"))
        LogRecordEncoder.finish(mark, into: &out)
        #expect(
            Self.hex(out)
                == "aa" + "1c0000007a0f3c02050000000000000008070605040302010d0300612f62010000006b76"
        )
    }

    @Test("golden bytes: no key, empty topic and value, envelope flag, negative time")
    func goldenMinimal() {
        var out: [UInt8] = []
        let mark = LogRecordEncoder.begin(
            offset: 0,
            receiveTimeMicros: -1,
            topic: UnsafeRawBufferPointer(start: nil, count: 0),
            qos: 0,
            retain: false,
            key: nil,
            valueIsEnvelope: true,
            into: &out
        )
        LogRecordEncoder.finish(mark, into: &out)
        #expect(Self.hex(out) == "1300000042ceded40000000000000000ffffffffffffffff100000")
    }

    @Test("rollback removes exactly the begun record")
    func rollback() {
        var out: [UInt8] = []
        LogTestSupport.encode(LogTestSupport.record(0), into: &out)
        let before = out
        let topic = Array("t".utf8)
        let mark = topic.withUnsafeBytes {
            LogRecordEncoder.begin(
                offset: 1,
                receiveTimeMicros: 1,
                topic: $0,
                qos: 2,
                retain: false,
                key: nil,
                valueIsEnvelope: false,
                into: &out
            )
        }
        out.append(contentsOf: [1, 2, 3])
        LogRecordEncoder.rollback(mark, in: &out)
        #expect(out == before)
    }

    @Test("a warm buffer is reused without growing")
    func keepsCapacity() {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        let capacity = out.capacity
        for round in 0..<3 {
            out.removeAll(keepingCapacity: true)
            for offset in 0..<20 {
                LogTestSupport.encode(LogTestSupport.record(UInt64(offset + round * 20)), into: &out)
            }
            #expect(out.capacity == capacity)
        }
    }
}
