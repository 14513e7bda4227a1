/// The on-disk format of the local log (SPEC §6). All integers are little-endian.
///
/// A log is a directory:
///
/// | file | content |
/// |---|---|
/// | `NNNNNNNNNNNNNNNNNNNN.log` | a segment; the name is the offset of its first record, 20 decimal digits |
/// | `forwarded` | the forwarded checkpoint: the decimal offset of the first record Rivven has *not* acknowledged, then `\n` |
/// | `forwarded.tmp` | a checkpoint being written (renamed over `forwarded`; a leftover one is removed at open) |
///
/// The writing process holds an exclusive `flock` on the directory itself, so two gateways cannot share a log.
///
/// A segment starts with a 16-byte header, followed by records back to back:
///
/// | bytes | field |
/// |---|---|
/// | 0..<8 | magic `RVNMQLOG` (ASCII) |
/// | 8..<12 | `u32` format version, 1 |
/// | 12..<16 | `u32` reserved, 0 |
///
/// A record is an 8-byte frame header and a body:
///
/// | field | type | |
/// |---|---|---|
/// | `bodyLength` | `u32` | bytes of the body (at least 19) |
/// | `crc` | `u32` | CRC-32C (``CRC32C``) of the body |
/// | body: `offset` | `u64` | the record's offset: the segment's base offset for its first record, then +1 each |
/// | body: `receiveTimeMicros` | `i64` | when the gateway received the message, µs since the Unix epoch |
/// | body: `flags` | `u8` | bits 0–1 QoS (0…2), bit 2 retain, bit 3 has key, bit 4 value is an envelope (else raw payload), bits 5–7 zero |
/// | body: `topicLength` | `u16` | |
/// | body: topic | bytes | the MQTT topic |
/// | body: `keyLength` | `u32` | only when the has-key flag is set |
/// | body: key | bytes | only when the has-key flag is set (may be empty) |
/// | body: value | bytes | the rest of the body |
///
/// A record is valid when its length fits the file, its CRC matches, its flags' reserved bits are zero, its QoS is at
/// most 2, its topic and key lengths fit the body, and its offset is the one expected at that position. Only the last
/// segment may end with an invalid record (a torn write after a crash); ``LocalLog`` truncates it at open.
enum LogFormat {
    /// The segment header's magic.
    static let magic: [UInt8] = Array("RVNMQLOG".utf8)
    /// The format version written and accepted.
    static let version: UInt32 = 1
    /// Bytes before the first record of a segment.
    static let segmentHeaderSize = 16
    /// `bodyLength` + `crc`.
    static let frameHeaderSize = 8
    /// `offset` + `receiveTimeMicros` + `flags` + `topicLength`.
    static let minimumBodySize = 19
    /// The smallest possible record.
    static let minimumRecordSize = frameHeaderSize + minimumBodySize

    static let qosMask: UInt8 = 0b0000_0011
    static let retainFlag: UInt8 = 0b0000_0100
    static let hasKeyFlag: UInt8 = 0b0000_1000
    static let envelopeFlag: UInt8 = 0b0001_0000
    static let reservedFlags: UInt8 = 0b1110_0000

    /// The name of the file holding the forwarded checkpoint.
    static let checkpointName = "forwarded"
    /// The temporary name a new checkpoint is written under.
    static let checkpointTemporaryName = "forwarded.tmp"

    /// The segment header bytes.
    static var segmentHeader: [UInt8] {
        var header = magic
        header.appendLittleEndian(version)
        header.appendLittleEndian(UInt32(0))
        return header
    }

    /// The file name of the segment whose first offset is `baseOffset`.
    static func segmentName(baseOffset: UInt64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: 20 - digits.count) + digits + ".log"
    }

    /// The base offset named by a segment file name, or nil when `name` is not one.
    static func baseOffset(segmentName name: String) -> UInt64? {
        let utf8 = Array(name.utf8)
        guard utf8.count == 24, utf8[20...] == Array(".log".utf8)[...] else { return nil }
        var value: UInt64 = 0
        for byte in utf8[0..<20] {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// Why a segment header is not accepted, or nil when it is.
    static func headerProblem(_ header: UnsafeRawBufferPointer) -> String? {
        guard header.count >= segmentHeaderSize else { return "the segment header is incomplete" }
        guard header.prefix(8).elementsEqual(magic) else { return "not a rivven-mqtt log segment (bad magic)" }
        let fileVersion = header.loadLittleEndianUInt32(at: 8)
        guard fileVersion == version else { return "unsupported log format version \(fileVersion)" }
        return nil
    }
}

/// Where the fields of a record body are, after its lengths and flags were checked.
struct RecordBodyLayout {
    var offset: UInt64
    var receiveTimeMicros: Int64
    var flags: UInt8
    var topic: Range<Int>
    var key: Range<Int>?
    var value: Range<Int>

    var qos: UInt8 { flags & LogFormat.qosMask }
    var retain: Bool { flags & LogFormat.retainFlag != 0 }
    var valueIsEnvelope: Bool { flags & LogFormat.envelopeFlag != 0 }

    /// Parses `body` (without the frame header); nil when a length does not fit or a flag is invalid.
    static func parse(_ body: UnsafeRawBufferPointer) -> RecordBodyLayout? {
        let count = body.count
        guard count >= LogFormat.minimumBodySize else { return nil }
        let flags = body[16]
        guard flags & LogFormat.reservedFlags == 0, flags & LogFormat.qosMask <= 2 else { return nil }
        let topicLength = Int(body.loadLittleEndianUInt16(at: 17))
        let topicStart = LogFormat.minimumBodySize
        guard topicLength <= count - topicStart else { return nil }
        var position = topicStart + topicLength
        var key: Range<Int>?
        if flags & LogFormat.hasKeyFlag != 0 {
            guard count - position >= 4 else { return nil }
            let keyLength = Int(body.loadLittleEndianUInt32(at: position))
            position += 4
            guard keyLength <= count - position else { return nil }
            key = position..<(position + keyLength)
            position += keyLength
        }
        return RecordBodyLayout(
            offset: body.loadLittleEndianUInt64(at: 0),
            receiveTimeMicros: Int64(bitPattern: body.loadLittleEndianUInt64(at: 8)),
            flags: flags,
            topic: topicStart..<(topicStart + topicLength),
            key: key,
            value: position..<count
        )
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadLittleEndianUInt16(at offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func loadLittleEndianUInt64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

extension Array where Element == UInt8 {
    /// Appends `value`'s bytes, least significant first.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        Swift.withUnsafeBytes(of: &little) { append(contentsOf: $0) }
    }
}
