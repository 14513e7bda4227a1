import Synchronization

/// The counters at one moment, with the seed connector's field names and derived values (SPEC §7).
public struct IngestMetricsSnapshot: Sendable, Equatable {
    public var messagesReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var connections: UInt64 = 0
    public var disconnections: UInt64 = 0
    public var errors: UInt64 = 0
    /// Cumulative receive → durable latency, microseconds.
    public var receiveLatencyMicros: UInt64 = 0
    /// 0 when no batch was written.
    public var batchSizeMin: UInt64 = 0
    public var batchSizeMax: UInt64 = 0
    public var batchSizeSum: UInt64 = 0
    public var batchCount: UInt64 = 0
    // Ours, after the seed's.
    public var recordsWritten: UInt64 = 0
    public var writeErrors: UInt64 = 0
    public var reconnects: UInt64 = 0
    public var qosDowngrades: UInt64 = 0
    public var oversizeMessages: UInt64 = 0
    public var droppedRingFull: UInt64 = 0
    public var droppedTooLarge: UInt64 = 0
    public var droppedUnwritable: UInt64 = 0
    public var duplicatesRedelivered: UInt64 = 0
    public var ringFullWaits: UInt64 = 0
    public var logTruncatedBytes: UInt64 = 0
    public var rivvenRecordsForwarded: UInt64 = 0
    public var rivvenBatchesForwarded: UInt64 = 0
    public var rivvenDuplicateBatches: UInt64 = 0
    public var rivvenBatchesResent: UInt64 = 0
    public var rivvenDeadLettered: UInt64 = 0
    public var rivvenDropped: UInt64 = 0
    public var rivvenErrorReplies: UInt64 = 0
    public var rivvenConnectFailures: UInt64 = 0
    public var rivvenDisconnects: UInt64 = 0
    public var rivvenProducerResets: UInt64 = 0
    /// 1 when the Rivven forwarders are all connected (gauge; 0 without Rivven).
    public var rivvenConnected: UInt64 = 0
    /// Records durable in the local log but not yet acknowledged by Rivven (gauge).
    public var forwarderLagRecords: UInt64 = 0
    /// Age of the oldest record not yet acknowledged by Rivven, ms (gauge; 0 when none).
    public var forwarderOldestPendingAgeMs: UInt64 = 0
    /// Gauge: messages in the rings, not yet taken by the writer.
    public var ringDepth: UInt64 = 0
    /// Gauge: messages taken but not yet durable (their acknowledgements are held).
    public var unacknowledgedInFlight: UInt64 = 0
    /// Gauge: bytes in the local log segments (all sources).
    public var logBytes: UInt64 = 0
    /// Receive → durable latency per written message (power-of-two microsecond buckets).
    public var endToEndLatency = LatencyDistribution()

    /// Creates a zero snapshot.
    public init() {}

    /// Average receive → durable latency in milliseconds.
    public var averageReceiveLatencyMilliseconds: Double {
        messagesReceived == 0 ? 0 : Double(receiveLatencyMicros) / Double(messagesReceived) / 1000
    }

    /// Average records per batch.
    public var averageBatchSize: Double {
        batchCount == 0 ? 0 : Double(batchSizeSum) / Double(batchCount)
    }

    /// Messages per second over `elapsedSeconds`.
    public func messagesPerSecond(elapsedSeconds: Double) -> Double {
        elapsedSeconds <= 0 ? 0 : Double(messagesReceived) / elapsedSeconds
    }

    /// Payload bytes per second over `elapsedSeconds`.
    public func bytesPerSecond(elapsedSeconds: Double) -> Double {
        elapsedSeconds <= 0 ? 0 : Double(bytesReceived) / elapsedSeconds
    }

    /// Errors as a percentage of messages + errors.
    public var errorRatePercent: Double {
        let total = messagesReceived + errors
        return total == 0 ? 0 : Double(errors) / Double(total) * 100
    }

    /// The JSON object of `/metrics.json`: the seed's keys in the seed's order, then ours.
    public var json: String {
        let fields: [(String, UInt64)] = [
            ("messages_received", messagesReceived), ("bytes_received", bytesReceived), ("connections", connections),
            ("disconnections", disconnections), ("errors", errors), ("receive_latency_us", receiveLatencyMicros),
            ("batch_size_min", batchSizeMin), ("batch_size_max", batchSizeMax), ("batch_size_sum", batchSizeSum),
            ("batch_count", batchCount), ("records_written", recordsWritten), ("write_errors", writeErrors),
            ("reconnects", reconnects), ("qos_downgrades", qosDowngrades), ("oversize_messages", oversizeMessages),
            ("dropped_ring_full", droppedRingFull), ("dropped_too_large", droppedTooLarge),
            ("dropped_unwritable", droppedUnwritable),
            ("duplicates_redelivered", duplicatesRedelivered), ("ring_full_waits", ringFullWaits),
            ("log_truncated_bytes", logTruncatedBytes), ("ring_depth", ringDepth),
            ("unacknowledged_in_flight", unacknowledgedInFlight),
            ("rivven_records_forwarded", rivvenRecordsForwarded),
            ("rivven_batches_forwarded", rivvenBatchesForwarded),
            ("rivven_duplicate_batches", rivvenDuplicateBatches),
            ("rivven_batches_resent", rivvenBatchesResent),
            ("rivven_dead_lettered", rivvenDeadLettered),
            ("rivven_dropped", rivvenDropped),
            ("rivven_error_replies", rivvenErrorReplies),
            ("rivven_connect_failures", rivvenConnectFailures),
            ("rivven_disconnects", rivvenDisconnects),
            ("rivven_producer_resets", rivvenProducerResets),
            ("rivven_connected", rivvenConnected), ("forwarder_lag_records", forwarderLagRecords),
            ("forwarder_oldest_pending_age_ms", forwarderOldestPendingAgeMs), ("log_bytes", logBytes),
            ("end_to_end_latency_count", endToEndLatency.count),
        ]
        // Upper-bound estimates (the upper edge of a power-of-two bucket); absent until a message was written.
        let quantiles: [(String, Double)] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)]
        let latency = quantiles.compactMap { name, quantile in
            endToEndLatency.quantileMicroseconds(quantile).map { ("end_to_end_latency_\(name)_us", $0) }
        }
        return "{" + (fields + latency).map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

extension IngestCounters {
    /// The current values.
    public func snapshot() -> IngestMetricsSnapshot {
        read(reset: false)
    }

    /// The current values, resetting every counter to zero (the seed's `snapshot_and_reset`). Values added by
    /// other threads during the call land in this snapshot or the next, never in neither.
    public func snapshotAndReset() -> IngestMetricsSnapshot {
        read(reset: true)
    }

    private func read(reset: Bool) -> IngestMetricsSnapshot {
        func take(_ counter: borrowing Atomic<UInt64>, zero: UInt64 = 0) -> UInt64 {
            reset ? counter.exchange(zero, ordering: .relaxed) : counter.load(ordering: .relaxed)
        }
        var s = IngestMetricsSnapshot()
        s.messagesReceived = take(messagesReceived)
        s.bytesReceived = take(bytesReceived)
        s.connections = take(connections)
        s.disconnections = take(disconnections)
        s.errors = take(errors)
        s.receiveLatencyMicros = take(receiveLatencyMicros)
        let minimum = take(batchSizeMin, zero: .max)
        s.batchSizeMin = minimum == .max ? 0 : minimum
        s.batchSizeMax = take(batchSizeMax)
        s.batchSizeSum = take(batchSizeSum)
        s.batchCount = take(batchCount)
        s.recordsWritten = take(recordsWritten)
        s.writeErrors = take(writeErrors)
        s.reconnects = take(reconnects)
        s.qosDowngrades = take(qosDowngrades)
        s.oversizeMessages = take(oversizeMessages)
        s.droppedRingFull = take(droppedRingFull)
        s.droppedTooLarge = take(droppedTooLarge)
        s.droppedUnwritable = take(droppedUnwritable)
        s.duplicatesRedelivered = take(duplicatesRedelivered)
        s.ringFullWaits = take(ringFullWaits)
        s.logTruncatedBytes = take(logTruncatedBytes)
        s.rivvenRecordsForwarded = take(rivvenRecordsForwarded)
        s.rivvenBatchesForwarded = take(rivvenBatchesForwarded)
        s.rivvenDuplicateBatches = take(rivvenDuplicateBatches)
        s.rivvenBatchesResent = take(rivvenBatchesResent)
        s.rivvenDeadLettered = take(rivvenDeadLettered)
        s.rivvenDropped = take(rivvenDropped)
        s.rivvenErrorReplies = take(rivvenErrorReplies)
        s.rivvenConnectFailures = take(rivvenConnectFailures)
        s.rivvenDisconnects = take(rivvenDisconnects)
        s.rivvenProducerResets = take(rivvenProducerResets)
        s.endToEndLatency = endToEndLatency.distribution(reset: reset)
        return s
    }
}
