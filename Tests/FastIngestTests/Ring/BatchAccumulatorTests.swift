import Testing

@testable import FastIngest

@Suite("BatchAccumulator")
struct BatchAccumulatorTests {
    @Test func closesAtTheMessageLimit() {
        var batch = BatchAccumulator(maxMessages: 3, maxBytes: 1 << 20, lingerMilliseconds: 1000)
        batch.add(size: 10, qos: 0, now: 0)
        batch.add(size: 10, qos: 0, now: 0)
        #expect(!batch.shouldClose(now: 0, sourceIsEmpty: false))
        batch.add(size: 10, qos: 0, now: 0)
        #expect(batch.isFull)
        #expect(batch.shouldClose(now: 0, sourceIsEmpty: false))
    }

    @Test func closesAtTheByteLimit() {
        var batch = BatchAccumulator(maxMessages: 1000, maxBytes: 100, lingerMilliseconds: 1000)
        batch.add(size: 60, qos: 0, now: 0)
        #expect(!batch.shouldClose(now: 0, sourceIsEmpty: false))
        batch.add(size: 60, qos: 0, now: 0)
        #expect(batch.shouldClose(now: 0, sourceIsEmpty: false))
        #expect(batch.bytes == 120)
    }

    @Test func qos0WaitsForLingerWhenTheSourceIsEmpty() {
        var batch = BatchAccumulator(maxMessages: 1000, maxBytes: 1 << 20, lingerMilliseconds: 5)
        batch.add(size: 10, qos: 0, now: 1_000_000)
        #expect(!batch.shouldClose(now: 1_000_000, sourceIsEmpty: true))
        #expect(batch.lingerRemaining(now: 2_000_000) == 4_000_000)
        #expect(!batch.shouldClose(now: 5_999_999, sourceIsEmpty: true))
        #expect(batch.shouldClose(now: 6_000_000, sourceIsEmpty: true))
        // Never while more is available and no limit is reached.
        #expect(!batch.shouldClose(now: 60_000_000, sourceIsEmpty: false))
    }

    @Test func heldAcknowledgementsCloseAtOnceWhenTheProducerWaits() {
        var batch = BatchAccumulator(maxMessages: 1000, maxBytes: 1 << 20, lingerMilliseconds: 5000)
        batch.add(size: 10, qos: 0, now: 0)
        batch.add(size: 10, qos: 1, now: 0)
        #expect(batch.holdsAcknowledgement)
        #expect(batch.shouldClose(now: 0, sourceIsEmpty: true, producerWaits: true))
        #expect(!batch.shouldClose(now: 0, sourceIsEmpty: false, producerWaits: true))
    }

    @Test func heldAcknowledgementsLingerOneMillisecondWhileProducersRead() {
        var batch = BatchAccumulator(maxMessages: 1000, maxBytes: 1 << 20, lingerMilliseconds: 5000)
        batch.add(size: 10, qos: 1, now: 10_000_000)
        #expect(!batch.shouldClose(now: 10_000_000, sourceIsEmpty: true, producerWaits: false))
        #expect(batch.lingerRemaining(now: 10_400_000) == 600_000)
        #expect(!batch.shouldClose(now: 10_999_999, sourceIsEmpty: true, producerWaits: false))
        #expect(batch.shouldClose(now: 11_000_000, sourceIsEmpty: true, producerWaits: false))
    }

    @Test func emptyNeverClosesAndResetEmpties() {
        var batch = BatchAccumulator(maxMessages: 1, maxBytes: 1, lingerMilliseconds: 0)
        #expect(!batch.shouldClose(now: .max, sourceIsEmpty: true))
        batch.add(size: 5, qos: 2, now: 7)
        batch.reset()
        #expect(batch.isEmpty && batch.bytes == 0 && !batch.holdsAcknowledgement)
    }
}
