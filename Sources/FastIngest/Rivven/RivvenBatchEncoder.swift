/// Writes `PublishBatch` (38) and `IdempotentPublishBatch` (39) frames with the records' bytes copied once, straight
/// from where the caller has them (the local log's buffers) into a caller-owned output buffer (WIRE.md §7.5, §7.7).
///
/// Use either the three steps
///
/// ```swift
/// var mark = RivvenBatchEncoder.begin(correlationID: 0, topic: "iot", partition: 2, expectedRecordCount: n, into: &out)
/// for record in run { RivvenBatchEncoder.appendRecord(key: record.key, value: record.value, to: &mark, into: &out) }
/// let length = RivvenBatchEncoder.finish(mark, into: &out)
/// ```
///
/// or ``encode(correlationID:topic:partition:expectedRecordCount:idempotence:leaderEpoch:into:records:)``, which does
/// the same around a closure that appends the records.
///
/// The record count precedes the records on the wire, so `begin` writes `expectedRecordCount` and `finish` corrects
/// it when a different number was appended. That is free when both counts take as many varint bytes (both < 128, or
/// both in 128…16383); otherwise `finish` moves the records by a byte, which costs one copy of the batch.
///
/// Nothing here checks the broker's limits: keep a batch to at most ``RivvenLimits/maxListLength`` records and its
/// `L` (returned by `finish`, or planned with ``frameLength(topicUTF8Count:partition:recordCount:recordsLength:idempotence:leaderEpoch:)``)
/// to at most ``RivvenLimits/maxRequestFrameLength``.
public enum RivvenBatchEncoder {
    /// Appends the frame header, the variant index, `topic`, `partition` and the record count; the records follow.
    ///
    /// - Parameters:
    ///   - correlationID: the frame's correlation id.
    ///   - topic: the Rivven topic.
    ///   - partition: the partition, or nil to let the broker pick it from the first record's key.
    ///   - expectedRecordCount: how many records will be appended (see the type's notes when that is not known).
    ///   - idempotence: nil for `PublishBatch`; the producer id, epoch and base sequence for
    ///     `IdempotentPublishBatch`.
    /// - Returns: the mark to pass to ``appendRecord(key:value:to:into:)`` and ``finish(_:leaderEpoch:into:)``.
    public static func begin(
        correlationID: UInt32,
        topic: String,
        partition: UInt32?,
        expectedRecordCount: Int,
        idempotence: RivvenIdempotence? = nil,
        into out: inout [UInt8]
    ) -> RivvenBatchMark {
        precondition(expectedRecordCount >= 0, "RivvenBatchEncoder.begin: negative record count")
        let frame = RivvenFrame.begin(correlationID: correlationID, into: &out)
        PostcardWriter.writeVarint(idempotence == nil ? 38 : 39, into: &out)
        PostcardWriter.writeString(topic, into: &out)
        PostcardWriter.writeOptionalU32(partition, into: &out)
        let countStart = out.count
        PostcardWriter.writeCount(expectedRecordCount, into: &out)
        return RivvenBatchMark(
            frame: frame,
            countStart: countStart,
            countLength: out.count - countStart,
            expectedRecordCount: expectedRecordCount,
            idempotence: idempotence
        )
    }

    /// Appends one record: the key (`00` for none, `01` + length + bytes) and the value (length + bytes).
    public static func appendRecord(
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer,
        to mark: inout RivvenBatchMark,
        into out: inout [UInt8]
    ) {
        PostcardWriter.writeOptionalBytes(key, into: &out)
        PostcardWriter.writeBytes(value, into: &out)
        mark.recordCount += 1
    }

    /// Appends one record from arrays.
    public static func appendRecord(
        key: [UInt8]?,
        value: [UInt8],
        to mark: inout RivvenBatchMark,
        into out: inout [UInt8]
    ) {
        PostcardWriter.writeOptionalBytes(key, into: &out)
        PostcardWriter.writeBytes(value, into: &out)
        mark.recordCount += 1
    }

    /// Appends one record whose value `writeValue` appends to `out` in place (an encoder writing JSON directly into
    /// the frame, say). The value's length goes first on the wire, so it must be known: `writeValue` must append
    /// exactly `valueLength` bytes.
    public static func appendRecord(
        key: UnsafeRawBufferPointer?,
        valueLength: Int,
        to mark: inout RivvenBatchMark,
        into out: inout [UInt8],
        writeValue: (inout [UInt8]) -> Void
    ) {
        precondition(valueLength >= 0, "RivvenBatchEncoder.appendRecord: negative value length")
        PostcardWriter.writeOptionalBytes(key, into: &out)
        PostcardWriter.writeCount(valueLength, into: &out)
        let valueStart = out.count
        writeValue(&out)
        precondition(
            out.count - valueStart == valueLength,
            "RivvenBatchEncoder.appendRecord: writeValue appended a different number of bytes than valueLength"
        )
        mark.recordCount += 1
    }

    /// Completes the frame begun at `mark`: corrects the record count if needed, appends the idempotence fields (for
    /// `IdempotentPublishBatch`) and `leader_epoch`, and writes `L`.
    ///
    /// - Returns: `L`.
    @discardableResult
    public static func finish(_ mark: RivvenBatchMark, leaderEpoch: UInt64? = nil, into out: inout [UInt8]) -> Int {
        precondition(
            mark.countStart + mark.countLength <= out.count,
            "RivvenBatchEncoder.finish: no batch begun at this mark"
        )
        if mark.recordCount != mark.expectedRecordCount {
            rewriteCount(mark, in: &out)
        }
        if let idempotence = mark.idempotence {
            PostcardWriter.writeU64(idempotence.producerID, into: &out)
            PostcardWriter.writeU16(idempotence.producerEpoch, into: &out)
            PostcardWriter.writeI32(idempotence.baseSequence, into: &out)
        }
        PostcardWriter.writeOptionalU64(leaderEpoch, into: &out)
        return RivvenFrame.finish(mark.frame, into: &out)
    }

    /// Removes the batch begun at `mark` (and anything appended after it), leaving `out` as it was before `begin`.
    public static func rollback(_ mark: RivvenBatchMark, in out: inout [UInt8]) {
        precondition(mark.frame.start <= out.count, "RivvenBatchEncoder.rollback: no batch begun at this mark")
        out.removeSubrange(mark.frame.start...)
    }

    /// Appends a whole batch frame whose records `records` supplies by calling the `append` closure it is given, once
    /// per record; the key and value memory only has to be valid during that call.
    ///
    /// If `records` throws, nothing of the frame stays in `out` and the error is rethrown.
    ///
    /// - Returns: `L`.
    @discardableResult
    public static func encode<Failure: Error>(
        correlationID: UInt32,
        topic: String,
        partition: UInt32?,
        expectedRecordCount: Int,
        idempotence: RivvenIdempotence? = nil,
        leaderEpoch: UInt64? = nil,
        into out: inout [UInt8],
        records: (_ append: (_ key: UnsafeRawBufferPointer?, _ value: UnsafeRawBufferPointer) -> Void) throws(Failure)
            -> Void
    ) throws(Failure) -> Int {
        var mark = begin(
            correlationID: correlationID,
            topic: topic,
            partition: partition,
            expectedRecordCount: expectedRecordCount,
            idempotence: idempotence,
            into: &out
        )
        do {
            try records { key, value in
                appendRecord(key: key, value: value, to: &mark, into: &out)
            }
        } catch {
            rollback(mark, in: &out)
            throw error
        }
        return finish(mark, leaderEpoch: leaderEpoch, into: &out)
    }

    // MARK: Planning

    /// The bytes one record takes in a batch.
    public static func encodedRecordLength(keyLength: Int?, valueLength: Int) -> Int {
        var length = 1 + PostcardWriter.varintLength(UInt64(valueLength)) + valueLength
        if let keyLength { length += PostcardWriter.varintLength(UInt64(keyLength)) + keyLength }
        return length
    }

    /// The frame length prefix `L` of a batch, for checking it against ``RivvenLimits/maxRequestFrameLength``
    /// before encoding.
    ///
    /// - Parameters:
    ///   - topicUTF8Count: `topic.utf8.count`.
    ///   - recordsLength: the sum of ``encodedRecordLength(keyLength:valueLength:)`` over the records.
    public static func frameLength(
        topicUTF8Count: Int,
        partition: UInt32?,
        recordCount: Int,
        recordsLength: Int,
        idempotence: RivvenIdempotence? = nil,
        leaderEpoch: UInt64? = nil
    ) -> Int {
        var length = RivvenFrame.headerLength - 4 + 1  // format, correlation id, variant index (38 or 39)
        length += PostcardWriter.varintLength(UInt64(topicUTF8Count)) + topicUTF8Count
        length += 1 + (partition.map { PostcardWriter.varintLength(UInt64($0)) } ?? 0)
        length += PostcardWriter.varintLength(UInt64(recordCount)) + recordsLength
        if let idempotence {
            length += PostcardWriter.varintLength(idempotence.producerID)
            length += PostcardWriter.varintLength(UInt64(idempotence.producerEpoch))
            length += PostcardWriter.varintLength(UInt64(PostcardWriter.zigzag(idempotence.baseSequence)))
        }
        length += 1 + (leaderEpoch.map { PostcardWriter.varintLength($0) } ?? 0)
        return length
    }

    // MARK: Private

    /// Writes the actual record count over the expected one, moving the records when its varint length differs.
    private static func rewriteCount(_ mark: RivvenBatchMark, in out: inout [UInt8]) {
        let count = UInt64(mark.recordCount)
        let range = mark.countStart..<(mark.countStart + mark.countLength)
        if PostcardWriter.varintLength(count) == mark.countLength {
            var index = mark.countStart
            var rest = count
            while rest >= 0x80 {
                out[index] = UInt8(truncatingIfNeeded: rest) | 0x80
                rest >>= 7
                index += 1
            }
            out[index] = UInt8(truncatingIfNeeded: rest)
        } else {
            var varint: [UInt8] = []
            PostcardWriter.writeVarint(count, into: &varint)
            out.replaceSubrange(range, with: varint)
        }
    }
}

/// A batch being encoded by ``RivvenBatchEncoder``: where its frame and record count are in the output buffer, and
/// how many records have been appended.
public struct RivvenBatchMark: Sendable {
    /// The frame's place in the buffer.
    public let frame: RivvenFrameMark
    /// Index of the record-count varint.
    let countStart: Int
    /// Bytes the record-count varint takes now.
    let countLength: Int
    /// The count written by `begin`.
    public let expectedRecordCount: Int
    /// The idempotence fields, nil for a plain `PublishBatch`.
    public internal(set) var idempotence: RivvenIdempotence?
    /// Records appended so far.
    public internal(set) var recordCount = 0

    init(
        frame: RivvenFrameMark,
        countStart: Int,
        countLength: Int,
        expectedRecordCount: Int,
        idempotence: RivvenIdempotence?
    ) {
        self.frame = frame
        self.countStart = countStart
        self.countLength = countLength
        self.expectedRecordCount = expectedRecordCount
        self.idempotence = idempotence
    }
}

extension RivvenRequest {
    /// Appends a `Publish` (4) frame with the key and value copied once from borrowed memory, without building a
    /// ``RivvenRequest`` (whose arrays would be a copy of their own).
    ///
    /// - Returns: `L`.
    @discardableResult
    public static func encodePublish(
        correlationID: UInt32,
        topic: String,
        partition: UInt32?,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer,
        leaderEpoch: UInt64? = nil,
        into out: inout [UInt8]
    ) -> Int {
        let mark = RivvenFrame.begin(correlationID: correlationID, into: &out)
        PostcardWriter.writeVarint(4, into: &out)
        PostcardWriter.writeString(topic, into: &out)
        PostcardWriter.writeOptionalU32(partition, into: &out)
        PostcardWriter.writeOptionalBytes(key, into: &out)
        PostcardWriter.writeBytes(value, into: &out)
        PostcardWriter.writeOptionalU64(leaderEpoch, into: &out)
        return RivvenFrame.finish(mark, into: &out)
    }
}
