/// One `PublishBatch` / `IdempotentPublishBatch` of the forwarder: its encoded frame (records copied once, from the
/// log reader's buffer), where it goes, and where it is in its life (open → unsent → in flight → acknowledged).
///
/// A reference type so the unacknowledged queue and a connection's reply queue can point at the same batch; batches
/// are pooled and their frame buffers reused.
final class ForwardBatch {
    enum State: Equatable {
        /// Records are still being added.
        case open
        /// Complete, waiting to be sent (again).
        case unsent
        /// Sent on the current connection, no reply yet.
        case inFlight
        /// Rivven acknowledged it (or reported it a duplicate of a stored batch).
        case acknowledged
    }

    private(set) var frame: [UInt8] = []
    /// Bytes of the frame in `frame` (`4 + L`).
    private(set) var frameLength = 0
    private(set) var topic = ""
    private(set) var topicBytes: [UInt8] = []
    private(set) var partition: UInt32 = 0
    /// Records appended.
    var recordCount: Int { mark?.recordCount ?? finishedRecordCount }
    /// Bytes the records take in the frame.
    private(set) var recordBytes = 0
    /// Dead-letter records among them (counted when acknowledged).
    var deadLetterCount = 0
    /// The flush group it belongs to.
    var group: UInt64 = 0
    var state = State.open
    /// The correlation id it was last sent with.
    var correlationID: UInt32 = 0
    /// How often it was sent.
    var attempts = 0
    /// The idempotence fields it carries (nil for a plain `PublishBatch`).
    private(set) var idempotence: RivvenIdempotence?

    private var mark: RivvenBatchMark?
    private var finishedRecordCount = 0
    private var recordsStart = 0

    /// Starts an empty batch for `topic`/`partition`; `idempotent` selects `IdempotentPublishBatch`.
    func begin(topic: String, topicBytes: [UInt8], partition: UInt32, idempotent: Bool, expectedRecords: Int) {
        frame.removeAll(keepingCapacity: true)
        self.topic = topic
        self.topicBytes = topicBytes
        self.partition = partition
        self.recordBytes = 0
        self.deadLetterCount = 0
        self.state = .open
        self.attempts = 0
        self.idempotence = nil
        self.finishedRecordCount = 0
        // Guess a count with the same varint width as small batches, so finishing rarely moves the records.
        mark = RivvenBatchEncoder.begin(
            correlationID: 0,
            topic: topic,
            partition: partition,
            expectedRecordCount: min(expectedRecords, 127),
            idempotence: idempotent ? RivvenIdempotence(producerID: 0, producerEpoch: 0, baseSequence: 0) : nil,
            into: &frame
        )
    }

    /// The frame length (`L`) the batch would have with one more record of `recordLength` encoded bytes.
    func frameLength(adding recordLength: Int) -> Int {
        RivvenBatchEncoder.frameLength(
            topicUTF8Count: topicBytes.count,
            partition: partition,
            recordCount: recordCount + 1,
            recordsLength: recordBytes + recordLength,
            idempotence: mark?.idempotence.map { _ in Self.widestIdempotence }
        )
    }

    /// Appends one record.
    func append(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer) {
        let before = frame.count
        RivvenBatchEncoder.appendRecord(key: key, value: value, to: &mark!, into: &frame)
        recordBytes += frame.count - before
    }

    /// Completes the frame with `idempotence` (nil for a plain batch). The batch becomes ``State/unsent``.
    func finish(idempotence: RivvenIdempotence?) {
        var completed = mark!
        completed.idempotence = idempotence
        finishedRecordCount = completed.recordCount
        frameLength = 4 + RivvenBatchEncoder.finish(completed, into: &frame)
        recordsStart = completed.countStart + PostcardWriter.varintLength(UInt64(finishedRecordCount))
        self.idempotence = idempotence
        mark = nil
        state = .unsent
    }

    /// Re-encodes the frame with new idempotence fields (a new producer id after a fence or a broker restart); the
    /// records are copied over unchanged.
    func reencode(idempotence newValue: RivvenIdempotence) {
        let records = Array(frame[recordsStart..<(recordsStart + recordBytes)])
        let count = finishedRecordCount
        frame.removeAll(keepingCapacity: true)
        var newMark = RivvenBatchEncoder.begin(
            correlationID: 0,
            topic: topic,
            partition: partition,
            expectedRecordCount: count,
            idempotence: newValue,
            into: &frame
        )
        frame.append(contentsOf: records)
        newMark.recordCount = count
        frameLength = 4 + RivvenBatchEncoder.finish(newMark, into: &frame)
        recordsStart = newMark.countStart + newMark.countLength
        idempotence = newValue
    }

    /// Writes `cid` into the frame header.
    func setCorrelationID(_ cid: UInt32) {
        frame[5] = UInt8(truncatingIfNeeded: cid >> 24)
        frame[6] = UInt8(truncatingIfNeeded: cid >> 16)
        frame[7] = UInt8(truncatingIfNeeded: cid >> 8)
        frame[8] = UInt8(truncatingIfNeeded: cid)
    }

    /// The frame bytes (`4 + L`), for tests.
    var frameBytes: ArraySlice<UInt8> { frame[0..<frameLength] }

    /// The widest idempotence fields, for planning frame lengths before the real values are known.
    private static let widestIdempotence = RivvenIdempotence(
        producerID: .max,
        producerEpoch: .max,
        baseSequence: .min
    )
}
