import Synchronization

/// Wakes the writer thread when producers published into its rings, without a system call per message: the writer
/// announces that it is about to sleep and how urgently it wants to hear of new messages; producers signal only then
/// (an event count).
package final class WriterSignal: Sendable {
    /// What the sleeping writer wants to be woken for.
    package enum Interest: UInt8 {
        /// Awake: producers never signal.
        case none = 0
        /// Idle with an empty batch: wake for any message.
        case anyMessage = 1
        /// A QoS 0 batch waits for its linger time: wake only for an urgent message (one whose acknowledgement waits,
        /// or a ring filling up); the linger timeout wakes it otherwise.
        case urgentOnly = 2
    }

    private let interest = Atomic<UInt8>(Interest.none.rawValue)
    private let pipe = WakePipe()

    /// Creates the signal.
    package init() {}

    /// Producer side, after publishing a message: wakes the writer if it sleeps and wants to hear of it.
    @inline(__always)
    package func notify(urgent: Bool) {
        // Orders the producer's publish before the read of `interest` (pairs with the fence in `prepareToSleep`).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let current = interest.load(ordering: .relaxed)
        guard current == Interest.anyMessage.rawValue || (urgent && current == Interest.urgentOnly.rawValue) else {
            return
        }
        if interest.compareExchange(
            expected: current,
            desired: Interest.none.rawValue,
            ordering: .acquiringAndReleasing
        )
        .exchanged {
            pipe.signal()
        }
    }

    /// Writer side: announce the intent to sleep; the caller must then re-check its rings and either `cancelSleep()`
    /// or `sleep(timeoutMilliseconds:)`.
    package func prepareToSleep(_ wanted: Interest) {
        interest.store(wanted.rawValue, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    /// Writer side: work appeared after `prepareToSleep`.
    package func cancelSleep() {
        interest.store(Interest.none.rawValue, ordering: .relaxed)
    }

    /// Writer side: waits until notified or the timeout passes.
    package func sleep(timeoutMilliseconds: Int32) {
        pipe.wait(timeoutMilliseconds: timeoutMilliseconds)
        interest.store(Interest.none.rawValue, ordering: .relaxed)
    }

    /// Wakes the writer unconditionally (stop requests).
    package func wake() {
        interest.store(Interest.none.rawValue, ordering: .relaxed)
        pipe.signal()
    }
}
