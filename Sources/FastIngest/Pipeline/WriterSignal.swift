import Synchronization

/// Wakes the writer thread when a producer published into an empty-looking ring, without a system call per
/// message: the writer announces that it is about to sleep, producers signal only then (an event count).
package final class WriterSignal: Sendable {
    private let sleeping = Atomic<Bool>(false)
    private let pipe = WakePipe()

    /// Creates the signal.
    package init() {}

    /// Producer side, after publishing: wakes the writer if it is (about to be) asleep.
    @inline(__always)
    package func notify() {
        // Orders the producer's publish before the read of `sleeping` (pairs with the fence in `prepareToSleep`).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .relaxed) && sleeping.exchange(false, ordering: .acquiringAndReleasing) {
            pipe.signal()
        }
    }

    /// Writer side: announce the intent to sleep; the caller must then re-check its rings and either `cancelSleep()`
    /// or `sleep(timeoutMilliseconds:)`.
    package func prepareToSleep() {
        sleeping.store(true, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    /// Writer side: work appeared after `prepareToSleep`.
    package func cancelSleep() {
        sleeping.store(false, ordering: .relaxed)
    }

    /// Writer side: waits until notified or the timeout passes.
    package func sleep(timeoutMilliseconds: Int32) {
        pipe.wait(timeoutMilliseconds: timeoutMilliseconds)
        sleeping.store(false, ordering: .relaxed)
    }

    /// Wakes the writer unconditionally (stop requests).
    package func wake() {
        sleeping.store(false, ordering: .relaxed)
        pipe.signal()
    }
}
