package import Synchronization

/// Where one source's log writer and its Rivven forwarder meet: two offsets and two wake-ups, no lock.
///
/// - The writer publishes ``durableEnd`` (every record below it is durable in the local log: synced, or written to
///   the page cache with `log.fsync: never`) and wakes the forwarder if it sleeps.
/// - The forwarder publishes ``acknowledged`` (every record below it was acknowledged by Rivven, or dead-lettered or
///   dropped by policy) and notifies the writer, which then lets retention delete forwarded segments, resumes when
///   the log was full, and — with `log.fsync: never` — releases the MQTT acknowledgements those records held.
package final class ForwardingLink: Sendable {
    /// Records below this offset are durable in the log (writer → forwarder).
    package let durableEnd: Atomic<UInt64>
    /// Records below this offset were acknowledged by Rivven (forwarder → writer).
    package let acknowledged: Atomic<UInt64>
    /// Whether the writer holds MQTT acknowledgements until Rivven acknowledged (`log.fsync: never`).
    package let acknowledgementsWaitForRivven: Bool

    private let forwarderSleeping = Atomic<Bool>(false)
    private let forwarderWake = WakePipe()
    private let writerSignal: WriterSignal

    package init(durableEnd: UInt64, acknowledged: UInt64, writerSignal: WriterSignal, gateAcknowledgements: Bool) {
        self.durableEnd = Atomic(durableEnd)
        self.acknowledged = Atomic(acknowledged)
        self.writerSignal = writerSignal
        self.acknowledgementsWaitForRivven = gateAcknowledgements
    }

    /// Writer side: records below `end` are durable.
    package func publishDurable(_ end: UInt64) {
        durableEnd.store(end, ordering: .releasing)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if forwarderSleeping.load(ordering: .relaxed) {
            forwarderWake.signal()
        }
    }

    /// Forwarder side: records below `end` are acknowledged.
    package func publishAcknowledged(_ end: UInt64) {
        acknowledged.store(end, ordering: .releasing)
        writerSignal.notify(urgent: true)
    }

    /// Forwarder side: the descriptor to poll next to its socket.
    package var forwarderWakeFD: Int32 { forwarderWake.readFD }

    /// Forwarder side: announce a sleep; then re-check ``durableEnd`` and either ``endSleep()`` at once or poll
    /// ``forwarderWakeFD`` and call ``endSleep()`` after.
    package func prepareForwarderSleep() {
        forwarderSleeping.store(true, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    /// Forwarder side: awake again; empties the wake pipe.
    package func endSleep() {
        forwarderSleeping.store(false, ordering: .relaxed)
        forwarderWake.drain()
    }

    /// Wakes the forwarder whatever it is doing (stop requests).
    package func wakeForwarder() {
        forwarderWake.signal()
    }
}
