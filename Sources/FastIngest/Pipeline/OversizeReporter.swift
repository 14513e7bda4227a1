import Synchronization

/// Counts messages over `max_payload_bytes` and reports the first one and then one at every power of two, so a
/// flood of them is visible without flooding the log. Such messages are still written (the local log keeps them,
/// SPEC §3.1); the Rivven sink dead-letters them.
struct OversizeReporter {
    let maxPayloadBytes: Int
    let counters: IngestCounters
    let report: (_ topic: String, _ size: Int, _ total: UInt64) -> Void

    @inline(__always)
    func check(topic: UnsafeRawBufferPointer, size: Int) {
        guard size > maxPayloadBytes else { return }
        let total = counters.oversizeMessages.wrappingAdd(1, ordering: .relaxed).newValue
        if total & (total - 1) == 0 {
            report(String(decoding: topic, as: UTF8.self), size, total)
        }
    }
}
