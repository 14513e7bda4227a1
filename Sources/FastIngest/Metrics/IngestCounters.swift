package import Synchronization

/// Lock-free counters the hot path bumps with relaxed atomics; snapshots and exposition are built from them.
public final class IngestCounters: Sendable {
    /// Messages handed over by libmosquitto (`messages_received`).
    package let messagesReceived = Atomic<UInt64>(0)
    /// Payload bytes of those messages (`bytes_received`).
    package let bytesReceived = Atomic<UInt64>(0)
    /// Successful CONNACKs (`connections`).
    package let connections = Atomic<UInt64>(0)
    /// Lost or closed connections (`disconnections`).
    package let disconnections = Atomic<UInt64>(0)
    /// Errors of any kind (`errors`).
    package let errors = Atomic<UInt64>(0)
    /// Reconnect attempts made after a failure or a drop.
    package let reconnects = Atomic<UInt64>(0)
    /// Subscriptions granted at a lower QoS than requested.
    package let qosDowngrades = Atomic<UInt64>(0)
    /// Messages larger than `max_payload_bytes` (kept by the local output, dead-lettered once Rivven is the sink).
    package let oversizeMessages = Atomic<UInt64>(0)
    /// Records written to the sink.
    package let recordsWritten = Atomic<UInt64>(0)
    /// Sink write failures.
    package let writeErrors = Atomic<UInt64>(0)
    /// Sum over written messages of receive → durable time, microseconds (`receive_latency_us`).
    package let receiveLatencyMicros = Atomic<UInt64>(0)
    /// Smallest batch written (`batch_size_min`; `UInt64.max` until the first batch).
    package let batchSizeMin = Atomic<UInt64>(.max)
    /// Largest batch written (`batch_size_max`).
    package let batchSizeMax = Atomic<UInt64>(0)
    /// Records in all batches (`batch_size_sum`).
    package let batchSizeSum = Atomic<UInt64>(0)
    /// Batches written (`batch_count`).
    package let batchCount = Atomic<UInt64>(0)
    /// QoS 0 messages dropped because the ring was full (`buffer.when_full: drop_*`).
    package let droppedRingFull = Atomic<UInt64>(0)
    /// Messages dropped because they are larger than the whole ring arena (`buffer.capacity_bytes`).
    package let droppedTooLarge = Atomic<UInt64>(0)
    /// Messages not written because the process stopped while the log could not be written (disk full).
    package let droppedUnwritable = Atomic<UInt64>(0)
    /// Messages received again after a reconnect whose earlier copy was already taken (broker redelivery).
    package let duplicatesRedelivered = Atomic<UInt64>(0)
    /// Times the MQTT thread had to wait for ring space inside a callback (the ring was full despite backpressure).
    package let ringFullWaits = Atomic<UInt64>(0)
    /// Torn or corrupt log bytes truncated at start-up.
    package let logTruncatedBytes = Atomic<UInt64>(0)
    /// Records Rivven acknowledged (dead letters included).
    package let rivvenRecordsForwarded = Atomic<UInt64>(0)
    /// Batches Rivven acknowledged.
    package let rivvenBatchesForwarded = Atomic<UInt64>(0)
    /// Resent idempotent batches Rivven recognised as already stored (`duplicate: true`): duplicates avoided.
    package let rivvenDuplicateBatches = Atomic<UInt64>(0)
    /// Batches sent again (after a lost connection, an error reply or Throttled).
    package let rivvenBatchesResent = Atomic<UInt64>(0)
    /// Records written to the dead-letter topic.
    package let rivvenDeadLettered = Atomic<UInt64>(0)
    /// Records not forwarded by policy (no dead-letter topic for an oversize or unroutable record); the log keeps them.
    package let rivvenDropped = Atomic<UInt64>(0)
    /// `Error` and other refusing replies from Rivven.
    package let rivvenErrorReplies = Atomic<UInt64>(0)
    /// Failed connection or session set-up attempts.
    package let rivvenConnectFailures = Atomic<UInt64>(0)
    /// Established Rivven connections lost.
    package let rivvenDisconnects = Atomic<UInt64>(0)
    /// New producer ids taken after UNKNOWN_PRODUCER_ID / PRODUCER_FENCED / sequence disagreement.
    package let rivvenProducerResets = Atomic<UInt64>(0)
    /// Receive → durable latency of every written message (the writer thread records one value per message).
    package let endToEndLatency = LatencyHistogram()

    /// Creates zeroed counters.
    public init() {}

    /// Records one written batch of `size` records.
    package func recordBatch(size: UInt64) {
        batchSizeSum.wrappingAdd(size, ordering: .relaxed)
        batchCount.wrappingAdd(1, ordering: .relaxed)
        var current = batchSizeMin.load(ordering: .relaxed)
        while size < current {
            let (exchanged, original) = batchSizeMin.compareExchange(
                expected: current,
                desired: size,
                ordering: .relaxed
            )
            if exchanged { break }
            current = original
        }
        current = batchSizeMax.load(ordering: .relaxed)
        while size > current {
            let (exchanged, original) = batchSizeMax.compareExchange(
                expected: current,
                desired: size,
                ordering: .relaxed
            )
            if exchanged { break }
            current = original
        }
    }

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<UInt64>, by value: UInt64 = 1) {
        counter.wrappingAdd(value, ordering: .relaxed)
    }
}
