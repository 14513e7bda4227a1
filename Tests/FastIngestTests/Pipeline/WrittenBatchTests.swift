import FastIngest
import Testing

/// The batch a writer lends to the bench's observer: every record of the batch, in order, with its fields.
@Suite("WrittenBatch")
struct WrittenBatchTests {
    @Test func lendsEveryRecordInOrder() {
        var batch: [UInt8] = []
        let values: [[UInt8]] = [Array("first".utf8), [], Array(repeating: 0xFF, count: 300)]
        for (index, value) in values.enumerated() {
            let topic = Array("t/\(index)".utf8)
            let key = Array("k".utf8)
            let mark = topic.withUnsafeBytes { topicBytes in
                key.withUnsafeBytes { keyBytes in
                    LogRecordEncoder.begin(
                        offset: 40 + UInt64(index),
                        receiveTimeMicros: 1_000 + Int64(index),
                        topic: topicBytes,
                        qos: UInt8(index),
                        retain: index == 2,
                        key: index == 1 ? keyBytes : nil,
                        valueIsEnvelope: index == 0,
                        into: &batch
                    )
                }
            }
            batch.append(contentsOf: value)
            LogRecordEncoder.finish(mark, into: &batch)
        }
        var seen: [(UInt64, Int64, String, UInt8, Bool, [UInt8]?, [UInt8], Bool)] = []
        batch.withUnsafeBytes { bytes in
            WrittenBatch(bytes: bytes, recordCount: values.count, synced: true).forEachRecord { record in
                seen.append(
                    (
                        record.offset, record.receiveTimeMicros, String(decoding: record.topic, as: UTF8.self),
                        record.qos, record.retain, record.key.map { Array($0) }, Array(record.value),
                        record.valueIsEnvelope
                    )
                )
            }
        }
        #expect(seen.count == 3)
        for (index, record) in seen.enumerated() {
            #expect(record.0 == 40 + UInt64(index))
            #expect(record.1 == 1_000 + Int64(index))
            #expect(record.2 == "t/\(index)")
            #expect(record.3 == UInt8(index))
            #expect(record.4 == (index == 2))
            #expect(record.5 == (index == 1 ? Array("k".utf8) : nil))
            #expect(record.6 == values[index])
            #expect(record.7 == (index == 0))
        }
    }
}
