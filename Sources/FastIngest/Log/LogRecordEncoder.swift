/// Where a record being encoded starts in the caller's buffer, from ``LogRecordEncoder/begin(offset:receiveTimeMicros:topic:qos:retain:key:valueIsEnvelope:into:)``
/// to ``LogRecordEncoder/finish(_:into:)`` or ``LogRecordEncoder/rollback(_:in:)``.
public struct RecordMark: Sendable, Equatable {
    /// Index of the record's frame header in the buffer.
    public let start: Int
    /// The record's offset.
    public let offset: UInt64

    /// Index of the record body (the byte the CRC starts at).
    var bodyStart: Int { start + LogFormat.frameHeaderSize }
}

/// Encodes records of the local log (format: ``LogFormat``) straight into a caller-owned buffer, typically a batch
/// that ``LocalLog/append(batch:firstOffset:recordCount:sync:)`` then writes as is.
///
/// Per record: ``begin(offset:receiveTimeMicros:topic:qos:retain:key:valueIsEnvelope:into:)`` writes the frame and
/// the fields before the value, the caller appends the value bytes to the same buffer (the envelope encoder writes
/// its JSON there directly), and ``finish(_:into:)`` fills in the body length and the CRC. Nothing here allocates
/// except the buffer's own growth, and a warm buffer (`removeAll(keepingCapacity: true)`) does not grow.
public enum LogRecordEncoder {
    /// Appends the frame header (length and CRC left zero for now) and the body up to the value.
    ///
    /// - Parameters:
    ///   - offset: the record's offset; records of a batch are numbered consecutively.
    ///   - receiveTimeMicros: the receive time, µs since the Unix epoch.
    ///   - topic: the MQTT topic (at most 65535 bytes, as MQTT allows).
    ///   - qos: 0, 1 or 2.
    ///   - key: the record key, or nil for none (an empty key is a key).
    ///   - valueIsEnvelope: whether the value will be a rivven-connect JSON envelope rather than the raw payload.
    /// - Returns: the mark to pass to ``finish(_:into:)`` after the value was appended.
    public static func begin(
        offset: UInt64,
        receiveTimeMicros: Int64,
        topic: UnsafeRawBufferPointer,
        qos: UInt8,
        retain: Bool,
        key: UnsafeRawBufferPointer?,
        valueIsEnvelope: Bool,
        into out: inout [UInt8]
    ) -> RecordMark {
        precondition(qos <= 2, "LogRecordEncoder: QoS must be 0, 1 or 2")
        precondition(topic.count <= Int(UInt16.max), "LogRecordEncoder: topic longer than 65535 bytes")
        if let key { precondition(key.count <= Int(UInt32.max), "LogRecordEncoder: key too long") }
        var flags = qos
        if retain { flags |= LogFormat.retainFlag }
        if key != nil { flags |= LogFormat.hasKeyFlag }
        if valueIsEnvelope { flags |= LogFormat.envelopeFlag }

        let start = out.count
        let size = LogFormat.frameHeaderSize + LogFormat.minimumBodySize + topic.count + (key.map { 4 + $0.count } ?? 0)
        out.appendWithin(maxCount: size) { writer in
            writer.putLittleEndian(UInt64(0))  // bodyLength + crc, patched by finish
            writer.putLittleEndian(offset)
            writer.putLittleEndian(UInt64(bitPattern: receiveTimeMicros))
            writer.put(flags)
            writer.putLittleEndian(UInt16(topic.count))
            writer.put(topic)
            if let key {
                writer.putLittleEndian(UInt32(key.count))
                writer.put(key)
            }
        }
        return RecordMark(start: start, offset: offset)
    }

    /// Completes the record begun at `mark`: everything appended after its fixed fields is its value. Writes the
    /// body length and the CRC-32C of the body into the frame header.
    public static func finish(_ mark: RecordMark, into out: inout [UInt8]) {
        let bodyStart = mark.bodyStart
        precondition(out.count >= bodyStart + LogFormat.minimumBodySize, "LogRecordEncoder.finish: not a begun record")
        let bodyLength = out.count - bodyStart
        precondition(bodyLength <= Int(UInt32.max), "LogRecordEncoder.finish: record longer than 4 GiB")
        out.withUnsafeMutableBytes { buffer in
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[bodyStart...]))
            buffer.storeBytes(of: UInt32(bodyLength).littleEndian, toByteOffset: mark.start, as: UInt32.self)
            buffer.storeBytes(of: crc.littleEndian, toByteOffset: mark.start + 4, as: UInt32.self)
        }
    }

    /// Removes the record begun at `mark` (and anything appended after it), leaving the buffer as it was before
    /// ``begin(offset:receiveTimeMicros:topic:qos:retain:key:valueIsEnvelope:into:)``. Capacity is kept.
    public static func rollback(_ mark: RecordMark, in out: inout [UInt8]) {
        precondition(mark.start <= out.count, "LogRecordEncoder.rollback: mark is past the end of the buffer")
        out.removeSubrange(mark.start...)
    }

    /// Appends one complete record whose value is `value`: `begin`, append, `finish`.
    public static func append(
        offset: UInt64,
        receiveTimeMicros: Int64,
        topic: UnsafeRawBufferPointer,
        qos: UInt8,
        retain: Bool,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer,
        valueIsEnvelope: Bool,
        into out: inout [UInt8]
    ) {
        let mark = begin(
            offset: offset,
            receiveTimeMicros: receiveTimeMicros,
            topic: topic,
            qos: qos,
            retain: retain,
            key: key,
            valueIsEnvelope: valueIsEnvelope,
            into: &out
        )
        out.appendWithin(maxCount: value.count) { $0.put(value) }
        finish(mark, into: &out)
    }
}

extension ByteWriter {
    /// Writes `value`'s bytes, least significant first.
    @inline(__always)
    mutating func putLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { put($0) }
    }
}
