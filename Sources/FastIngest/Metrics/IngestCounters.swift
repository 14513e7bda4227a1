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

    /// Creates zeroed counters.
    public init() {}

    @inline(__always)
    static func bump(_ counter: borrowing Atomic<UInt64>, by value: UInt64 = 1) {
        counter.wrappingAdd(value, ordering: .relaxed)
    }
}
