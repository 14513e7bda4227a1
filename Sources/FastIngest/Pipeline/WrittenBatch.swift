/// A batch of records the writer has just appended to the local log, lent to an ``IngestPipeline`` batch observer
/// (`rivven-mqtt bench` measures publish → durable latency and checks every sequence number with it). Valid only
/// during the call it is lent to.
package struct WrittenBatch {
    /// The encoded records (``LogFormat`` framing), back to back.
    package let bytes: UnsafeRawBufferPointer
    /// How many records `bytes` holds.
    package let recordCount: Int
    /// Whether the append included an `fdatasync` (`log.fsync: batch`): the records are durable now. Otherwise they
    /// are in the page cache (`never`) or wait for the next interval sync (`interval:MS`).
    package let synced: Bool

    /// Lends `bytes`, which hold exactly `recordCount` whole records.
    package init(bytes: UnsafeRawBufferPointer, recordCount: Int, synced: Bool) {
        self.bytes = bytes
        self.recordCount = recordCount
        self.synced = synced
    }

    /// Lends each record, in log order.
    package func forEachRecord(_ body: (LogRecordView) -> Void) {
        var position = 0
        for _ in 0..<recordCount {
            let length = Int(bytes.loadLittleEndianUInt32(at: position))
            let start = position + LogFormat.frameHeaderSize
            let recordBody = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
            // The writer framed these records itself a moment ago: a layout that does not parse is a bug.
            guard let layout = RecordBodyLayout.parse(recordBody) else {
                preconditionFailure("WrittenBatch: record at byte \(position) does not parse")
            }
            body(LogRecordView(body: recordBody, layout: layout))
            position = start + length
        }
    }
}

/// Sees each batch right after the writer appended it to the local log, on the writer thread of its source, before
/// its acknowledgements are released (so it delays them by what it costs). Nil in production: then the writer pays
/// one `nil` check per batch.
package typealias WrittenBatchObserver = @Sendable (WrittenBatch) -> Void
