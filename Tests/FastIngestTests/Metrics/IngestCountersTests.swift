import Testing

@testable import FastIngest

@Suite("IngestCounters")
struct IngestCountersTests {
    @Test func snapshotHasTheSeedFieldsAndDerivedValues() {
        let counters = IngestCounters()
        IngestCounters.bump(counters.messagesReceived, by: 4)
        IngestCounters.bump(counters.bytesReceived, by: 1000)
        IngestCounters.bump(counters.errors, by: 1)
        IngestCounters.bump(counters.receiveLatencyMicros, by: 8000)
        counters.recordBatch(size: 3)
        counters.recordBatch(size: 1)
        counters.recordBatch(size: 8)
        let s = counters.snapshot()
        #expect(s.batchSizeMin == 1 && s.batchSizeMax == 8 && s.batchSizeSum == 12 && s.batchCount == 3)
        #expect(s.averageBatchSize == 4)
        #expect(s.averageReceiveLatencyMilliseconds == 2)
        #expect(s.messagesPerSecond(elapsedSeconds: 2) == 2)
        #expect(s.bytesPerSecond(elapsedSeconds: 4) == 250)
        #expect(s.errorRatePercent == 20)
        #expect(s.messagesPerSecond(elapsedSeconds: 0) == 0)
        #expect(
            s.json.hasPrefix(
                #"{"messages_received":4,"bytes_received":1000,"connections":0,"disconnections":0,"errors":1,"#
                    + #""receive_latency_us":8000,"batch_size_min":1,"batch_size_max":8,"batch_size_sum":12,"#
                    + #""batch_count":3,"#
            )
        )
    }

    @Test func emptySnapshotReportsZeroMinimum() {
        let s = IngestCounters().snapshot()
        #expect(s.batchSizeMin == 0)
        #expect(s.averageBatchSize == 0 && s.averageReceiveLatencyMilliseconds == 0 && s.errorRatePercent == 0)
    }

    @Test func snapshotAndResetZeroes() {
        let counters = IngestCounters()
        IngestCounters.bump(counters.messagesReceived, by: 5)
        counters.recordBatch(size: 2)
        let first = counters.snapshotAndReset()
        #expect(first.messagesReceived == 5 && first.batchSizeMin == 2)
        let second = counters.snapshot()
        #expect(second.messagesReceived == 0 && second.batchSizeMin == 0 && second.batchCount == 0)
        counters.recordBatch(size: 9)
        #expect(counters.snapshot().batchSizeMin == 9)
    }
}
