import Glibc
import Synchronization

/// The MQTT thread's side of the hot path: copies each message into its connection's ring (no allocation, no
/// lock), applies `buffer.when_full`, and reports acknowledgements releasable only once the writer made every
/// message handed over so far durable.
final class RingHandler: MQTTMessageHandler {
    let ring: MessageRing
    private let policy: WhenFull
    private let counters: IngestCounters
    private let writer: WriterSignal
    /// Room kept free before reading the next packet (the largest message expected), so a callback never waits.
    private let headroom: Int
    /// Stop reading when this many QoS ≥ 1 messages wait for their acknowledgements: commit first.
    private let commitCount: Int
    /// Ring depth from which a QoS 0 message wakes a lingering writer.
    private let urgentDepth: Int
    private var unacknowledged = 0
    /// Packet ids of QoS ≥ 1 messages taken but not yet acknowledged (bounded; preallocated).
    private var heldPacketIDs: [UInt16] = []
    /// Packet ids whose acknowledgement was lost with the last connection: the broker redelivers them.
    private var redeliveryExpected: Set<UInt16> = []
    private var expectedRedeliveries = 0
    /// Messages published before the current connection: their acknowledgements died with the old connection, so
    /// they do not hold back this connection's packets (its CONNECT, SUBSCRIBE, PINGREQ).
    private var connectionStart: UInt64 = 0
    private var seenSinceReconnect = 0
    private let onDrop: (_ reason: String, _ total: UInt64) -> Void
    private let oversize: OversizeReporter

    init(
        ring: MessageRing,
        policy: WhenFull,
        maxPayloadBytes: Int,
        commitCount: Int,
        counters: IngestCounters,
        writer: WriterSignal,
        onOversize: @escaping (_ topic: String, _ size: Int, _ total: UInt64) -> Void,
        onDrop: @escaping (_ reason: String, _ total: UInt64) -> Void
    ) {
        self.ring = ring
        self.policy = policy
        self.counters = counters
        self.writer = writer
        self.headroom = min(ring.arenaCapacity, maxPayloadBytes + 1024)
        self.commitCount = max(1, commitCount)
        self.urgentDepth = max(1, ring.slotCount / 4)
        self.onDrop = onDrop
        self.oversize = OversizeReporter(maxPayloadBytes: maxPayloadBytes, counters: counters, report: onOversize)
        heldPacketIDs.reserveCapacity(Self.heldCapacity)
    }

    /// How many QoS ≥ 1 messages may wait for their acknowledgements before the MQTT thread stops reading and asks
    /// for a commit. A commit happens first whenever the socket runs dry, which is where a broker that keeps to the
    /// in-flight window puts it: it stops sending at the window and waits for acknowledgements. This bound matters
    /// when the broker streams past the window — mosquitto 2.0 replaying a queued persistent session sends the whole
    /// queue (measured: 199 000 unacknowledged of a 200 000-message drain with a window of 1 000). There it sets how
    /// many messages share one commit, and each commit pauses reading for one write + fsync and the acknowledgement
    /// flush: ten batches per commit keep that pause a small share of the time (at half the window, the old bound,
    /// a 200 000-message drain ran at 0.87× the plain subscriber; at ten batches, above 1×), while a crash
    /// redelivers at most this many already-written messages. Never below the window, never above the packet-id
    /// space.
    static func commitCount(maxInflight: Int, batchMaxMessages: Int) -> Int {
        min(65_535, max(maxInflight, 10 * batchMaxMessages, 1))
    }

    /// How many held packet ids are remembered for duplicate counting (beyond it, duplicates go uncounted).
    private static let heldCapacity = 65_536

    var canAcceptMore: Bool {
        if unacknowledged >= commitCount {
            if !ring.producerWaits.exchange(true, ordering: .releasing) { writer.notify(urgent: true) }
            return false
        }
        // With a drop policy the socket keeps being read and QoS 0 overflow is dropped instead.
        return policy != .block || ring.hasRoom(forBytes: headroom)
    }

    func handle(_ message: MQTTInboundMessage) {
        oversize.check(topic: message.topic, size: message.payload.count)
        let now = WallClockTime.now().nanosecondsSinceEpoch
        var droppedOldest = 0
        while true {
            let result = ring.push(
                topic: message.topic,
                payload: message.payload,
                properties: message.properties,
                qos: message.qos,
                retain: message.retain,
                packetID: UInt16(truncatingIfNeeded: message.packetID),
                receivedAt: now,
                dropPolicy: policy,
                droppedOldest: &droppedOldest
            )
            if droppedOldest > 0 {
                report(dropped: UInt64(droppedOldest), reason: "buffer full (drop_oldest)")
                droppedOldest = 0
            }
            switch result {
            case .queued:
                if message.qos > 0 { noteHeld(UInt16(truncatingIfNeeded: message.packetID)) }
                // An idle writer wakes for any message; one lingering over a batch only when the ring fills up (it
                // commits a batch holding acknowledgements within a millisecond, or at once when this thread stops
                // reading to wait for them).
                writer.notify(urgent: ring.availableCount >= urgentDepth)
                return
            case .dropped:
                report(dropped: 1, reason: "buffer full (\(policy.rawValue))")
                return
            case .tooLarge:
                let total = counters.droppedTooLarge.wrappingAdd(1, ordering: .relaxed).newValue
                onDrop("message of \(message.payload.count) bytes is larger than buffer.capacity_bytes", total)
                return
            case .full:
                // Only when a message is larger than the headroom kept, or a QoS ≥ 1 message meets a full ring under
                // a drop policy: wait for the writer (bounded by its progress), never drop it.
                IngestCounters.bump(counters.ringFullWaits)
                writer.notify(urgent: true)
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000)
                nanosleep(&pause, nil)
            }
        }
    }

    private func noteHeld(_ packetID: UInt16) {
        unacknowledged += 1
        if heldPacketIDs.count < Self.heldCapacity { heldPacketIDs.append(packetID) }
        guard !redeliveryExpected.isEmpty else { return }
        seenSinceReconnect += 1
        if redeliveryExpected.remove(packetID) != nil {
            IngestCounters.bump(counters.duplicatesRedelivered)
        } else if seenSinceReconnect > expectedRedeliveries {
            // The broker resends its in-flight messages first; past them, a matching id is a new message.
            redeliveryExpected.removeAll()
        }
    }

    func socketDrained() {
        guard unacknowledged > 0, !ring.producerWaits.exchange(true, ordering: .releasing) else { return }
        writer.notify(urgent: true)
    }

    func connectionLost() {
        connectionStart = ring.publishedCount
        ring.producerWaits.store(false, ordering: .relaxed)
        redeliveryExpected = Set(heldPacketIDs)
        expectedRedeliveries = redeliveryExpected.count
        seenSinceReconnect = 0
        heldPacketIDs.removeAll(keepingCapacity: true)
        unacknowledged = 0
    }

    private func report(dropped: UInt64, reason: String) {
        let total = counters.droppedRingFull.wrappingAdd(dropped, ordering: .relaxed).newValue
        // Counted always; logged at the first drop and whenever the total passes a power of two (no flooding).
        if (total - dropped).leadingZeroBitCount != total.leadingZeroBitCount {
            onDrop(reason, total)
        }
    }

    func commit() -> Bool {
        let published = ring.publishedCount
        // Nothing taken on this connection yet: no acknowledgement is queued, so its packets may leave.
        if published == connectionStart { return true }
        let durable = ring.durable.load(ordering: .acquiring) >= published
        if durable && unacknowledged > 0 {
            unacknowledged = 0
            ring.producerWaits.store(false, ordering: .relaxed)
            heldPacketIDs.removeAll(keepingCapacity: true)
        }
        return durable
    }
}
