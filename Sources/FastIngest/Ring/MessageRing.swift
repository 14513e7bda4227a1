import Glibc
package import Synchronization

/// A single-producer/single-consumer queue of MQTT messages between one MQTT driver thread (the producer) and the
/// writer thread (the consumer). Capacity is fixed in messages (a power of two) and in bytes: topic, MQTT 5 property
/// block and payload are copied once, contiguously, into a preallocated byte arena, so pushing allocates nothing and
/// takes no lock. All three count against the arena.
///
/// Indices are monotonic `UInt64` counters masked into the slot array. The consumer advances `consumed` with a
/// compare-and-swap, one message at a time, because under `drop_oldest` the producer may also advance it to discard
/// the oldest QoS 0 message; whoever wins the CAS owns that message.
public final class MessageRing: @unchecked Sendable {
    // @unchecked: `slots` and `arena` are raw storage whose regions are handed between the two threads by the
    // acquire/release protocol on `published` and `consumed`; producer-only state is touched by the producer only.

    /// One queued message: in the arena at `arenaOffset`, its topic, then its property block, then its payload.
    /// `receivedAt` is CLOCK_REALTIME nanoseconds.
    struct Slot {
        var arenaOffset: Int = 0
        var topicLength: Int = 0
        var propertiesLength: Int = 0
        var payloadLength: Int = 0
        /// Arena bytes this message holds, including any wasted tail before a wrap.
        var cost: Int = 0
        var receivedAt: Int64 = 0
        var packetID: UInt16 = 0
        var qos: UInt8 = 0
        var retain: Bool = false
    }

    /// A message as the consumer sees it; the buffers stay valid until the consumer releases it.
    public struct Message {
        /// Topic bytes.
        public var topic: UnsafeRawBufferPointer
        /// Payload bytes.
        public var payload: UnsafeRawBufferPointer
        /// MQTT 5 properties as an ``MQTTPropertyBlock`` (empty when none).
        public var properties: UnsafeRawBufferPointer
        /// Delivered QoS.
        public var qos: UInt8
        /// Retain flag.
        public var retain: Bool
        /// MQTT packet id (0 for QoS 0).
        public var packetID: UInt16
        /// Receive time, CLOCK_REALTIME nanoseconds.
        public var receivedAt: Int64
    }

    /// Outcome of a push.
    public enum PushResult: Equatable {
        /// Queued.
        case queued
        /// Not queued: this QoS 0 message was discarded (`drop_newest`, or `drop_oldest` when no older QoS 0
        /// message was left to discard).
        case dropped
        /// Not queued: no space, and the policy does not allow a drop (the caller waits and retries).
        case full
        /// Not queued: larger than the whole arena; can never fit.
        case tooLarge
    }

    /// Slots (a power of two).
    public let slotCount: Int
    /// Arena size in bytes.
    public let arenaCapacity: Int
    /// An empty ring whose next message would start at or past this arena offset starts again at 0 (`rewindIfEmpty`).
    private let rewindThreshold: Int
    private let mask: UInt64
    private let slots: UnsafeMutablePointer<Slot>
    private let arena: UnsafeMutableRawPointer

    /// Messages published by the producer (release).
    private let published = Atomic<UInt64>(0)
    /// Messages released by the consumer or discarded by the producer (CAS).
    private let consumed = Atomic<UInt64>(0)
    /// Arena bytes released (atomic add, by whoever wins a message's CAS).
    private let consumedBytes = Atomic<UInt64>(0)
    /// Messages (a prefix) that are durable or were discarded: the producer's acknowledgements may leave when this
    /// reaches what it published. Written by the writer thread.
    package let durable = Atomic<UInt64>(0)
    /// Set by the producer while it does not read because it waits for `durable` (its acknowledgements); the writer
    /// then commits at once instead of lingering.
    package let producerWaits = Atomic<Bool>(false)

    // Producer-only.
    private var head: UInt64 = 0
    private var producedBytes: UInt64 = 0

    /// Consumer-only, with page release: arena bytes consumed but not yet released to the producer; their pages are
    /// given back to the system before they are released.
    private var heldBytes = 0
    /// Bytes held before pages are given back; 0 when this ring never gives pages back.
    private let pageReleaseChunk: Int

    /// Creates a ring for `messages` slots (rounded up to a power of two) and `bytes` of arena.
    ///
    /// With `givesBackPages` (never under `drop_oldest`, whose discards release arena bytes out of the consumer's
    /// order) an arena of 8 MiB or more is mapped on its own, and the consumer gives the pages of consumed messages
    /// back to the system (`MADV_DONTNEED`) every `bytes / 32` before handing the bytes back to the producer — except
    /// the arena's first `rewindThreshold` bytes, where a ring that keeps up lives. A ring's write position sweeps
    /// its whole arena whenever a backlog persists; without this every page it passed stays resident (1 000 000 ×
    /// 1 KiB on two saturated cores: 98 MiB peak with the 64 MiB default arena). With it, resident memory follows
    /// the backlog. The price is a page fault per 4 KiB the producer writes past the first bytes while a backlog
    /// lasts.
    public init(messages: Int, bytes: Int, givesBackPages: Bool = false) {
        precondition(messages > 0 && bytes > 0, "ring capacity must be positive")
        var count = 1
        while count < messages { count <<= 1 }
        slotCount = count
        mask = UInt64(count - 1)
        arenaCapacity = bytes
        slots = .allocate(capacity: count)
        slots.initialize(repeating: Slot(), count: count)
        rewindThreshold = min(1 << 20, max(bytes / 16, 4096))
        var mapped: UnsafeMutableRawPointer?
        if givesBackPages && bytes >= 8 << 20 {
            let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let address, address != MAP_FAILED { mapped = address }
        }
        if let mapped {
            arena = mapped
            pageReleaseChunk = bytes / 32
        } else {
            arena = .allocate(byteCount: bytes, alignment: 64)
            pageReleaseChunk = 0
        }
    }

    deinit {
        slots.deinitialize(count: slotCount)
        slots.deallocate()
        if pageReleaseChunk > 0 {
            munmap(arena, arenaCapacity)
        } else {
            arena.deallocate()
        }
    }

    /// Whether the consumer gives the pages of consumed messages back to the system.
    public var givesBackPages: Bool { pageReleaseChunk > 0 }

    /// Arena bytes resident in memory right now (`mincore`), nil when that cannot be told.
    package func residentArenaBytes() -> Int? {
        let page = Int(getpagesize())
        let start = Int(bitPattern: arena) / page * page
        let length = Int(bitPattern: arena) + arenaCapacity - start
        var pages = [UInt8](repeating: 0, count: (length + page - 1) / page)
        let rc = pages.withUnsafeMutableBufferPointer {
            mincore(UnsafeMutableRawPointer(bitPattern: start), length, $0.baseAddress)
        }
        guard rc == 0 else { return nil }
        return pages.reduce(0) { $0 + Int($1 & 1) } * page
    }

    // MARK: Producer

    /// Messages published so far (producer's view; producer thread only).
    public var publishedCount: UInt64 { head }

    /// Messages published so far, readable from any thread (metrics).
    public var publishedCountObserved: UInt64 { published.load(ordering: .acquiring) }

    /// Whether a message of `bytes` (topic + properties + payload) would fit now without dropping anything.
    public func hasRoom(forBytes bytes: Int) -> Bool {
        let tail = consumed.load(ordering: .acquiring)
        guard head - tail < UInt64(slotCount) else { return false }
        // An empty ring starts again at the arena's beginning (`rewindIfEmpty`): anything up to the arena fits.
        if isDrained(tail: tail) { return bytes <= arenaCapacity }
        return placement(of: bytes, from: position).cost <= freeBytes()
    }

    /// Every message consumed and every arena byte released: nothing in the arena is in use (producer thread only:
    /// with the ring empty only the producer can change it).
    private func isDrained(tail: UInt64) -> Bool {
        tail == head && consumedBytes.load(ordering: .acquiring) == producedBytes
    }

    /// An empty ring starts again at the arena's beginning — when the next message would not fit contiguously at the
    /// current position (without this, a message longer than the room left at the end of the arena and longer than
    /// its start could never be placed: with `capacity_bytes` 1 MiB and a headroom of 1 MiB the MQTT thread stopped
    /// reading for good), and once past `rewindThreshold`, so that while the consumer keeps up, messages stay in the
    /// first pages of the arena and the rest is never touched (resident memory follows the backlog, not
    /// `capacity_bytes`). The skipped bytes are produced and released at once: nothing holds them.
    private func rewindIfEmpty(forBytes length: Int) {
        let position = self.position
        guard position != 0, position + length > arenaCapacity || position >= rewindThreshold,
            isDrained(tail: consumed.load(ordering: .acquiring))
        else { return }
        let skipped = UInt64(arenaCapacity - position)
        producedBytes &+= skipped
        consumedBytes.wrappingAdd(skipped, ordering: .releasing)
    }

    private func freeBytes() -> Int {
        arenaCapacity - Int(producedBytes &- consumedBytes.load(ordering: .acquiring))
    }

    /// The producer's arena position: where the next message starts unless it wraps.
    private var position: Int { Int(producedBytes % UInt64(arenaCapacity)) }

    /// Where a message of `length` goes from arena `position` and what it costs: there, contiguously, or at 0 with
    /// the rest of the arena as padding it pays for.
    private func placement(of length: Int, from position: Int) -> (offset: Int, cost: Int) {
        position + length <= arenaCapacity ? (position, length) : (0, arenaCapacity - position + length)
    }

    /// Copies a message in. `properties` is its ``MQTTPropertyBlock`` (empty by default). `dropPolicy` applies to QoS 0
    /// messages only; a QoS 1/2 message that does not fit gets `.full`. `droppedOldest` counts older QoS 0 messages
    /// discarded to make room (`drop_oldest`).
    public func push(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        qos: UInt8,
        retain: Bool,
        packetID: UInt16,
        receivedAt: Int64,
        dropPolicy: WhenFull,
        droppedOldest: inout Int
    ) -> PushResult {
        let length = topic.count + properties.count + payload.count
        guard length <= arenaCapacity else { return .tooLarge }
        while !hasRoom(forBytes: length) {
            switch dropPolicy {
            case .block:
                return .full
            case .dropNewest:
                return qos == 0 ? .dropped : .full
            case .dropOldest:
                guard qos == 0 else { return .full }
                guard let discarded = discardOldestQoS0() else { return .dropped }
                droppedOldest += discarded
            }
        }
        // After the drops: discarding every older message may have emptied the ring, which `hasRoom` counted on.
        rewindIfEmpty(forBytes: length)
        let (offset, cost) = placement(of: length, from: position)
        let base = arena + offset
        if topic.count > 0 { base.copyMemory(from: topic.baseAddress!, byteCount: topic.count) }
        if properties.count > 0 {
            (base + topic.count).copyMemory(from: properties.baseAddress!, byteCount: properties.count)
        }
        if payload.count > 0 {
            (base + topic.count + properties.count).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        slots[Int(head & mask)] = Slot(
            arenaOffset: offset,
            topicLength: topic.count,
            propertiesLength: properties.count,
            payloadLength: payload.count,
            cost: cost,
            receivedAt: receivedAt,
            packetID: packetID,
            qos: qos,
            retain: retain
        )
        producedBytes &+= UInt64(cost)
        head &+= 1
        published.store(head, ordering: .releasing)
        return .queued
    }

    /// Takes the oldest unconsumed message away from the consumer if it is QoS 0: returns 1 when discarded, 0 when
    /// the consumer took it first (space was freed all the same), nil when the ring is empty or the oldest message
    /// must not be dropped.
    private func discardOldestQoS0() -> Int? {
        precondition(pageReleaseChunk == 0, "drop_oldest needs a ring that does not give pages back")
        let tail = consumed.load(ordering: .acquiring)
        guard tail < head else { return nil }
        let slot = slots[Int(tail & mask)]
        guard slot.qos == 0 else { return nil }
        guard consumed.compareExchange(expected: tail, desired: tail + 1, ordering: .acquiringAndReleasing).exchanged
        else {
            return 0
        }
        consumedBytes.wrappingAdd(UInt64(slot.cost), ordering: .releasing)
        return 1
    }

    // MARK: Consumer

    /// Messages available to the consumer right now.
    public var availableCount: Int {
        Int(published.load(ordering: .acquiring) &- consumed.load(ordering: .acquiring))
    }

    /// The consumer's position (messages consumed or discarded so far).
    public var consumedCount: UInt64 { consumed.load(ordering: .acquiring) }

    /// Lends the oldest message to `body`, then releases it. `body` returns false to leave the message queued
    /// (e.g. the batch is full). Returns nil when empty; false when `body` declined; true when consumed. If the
    /// producer discarded the message meanwhile (drop_oldest), `rollback` is called so the caller can undo what it
    /// did with it, and the next message is tried.
    public func consume(_ body: (Message) -> Bool, rollback: () -> Void) -> Bool? {
        while true {
            let tail = consumed.load(ordering: .acquiring)
            guard tail < published.load(ordering: .acquiring) else {
                // Empty: whatever is held goes back at once, so the producer sees a drained ring and can rewind.
                if heldBytes > 0 { releaseHeld(keepingPartialPage: false) }
                return nil
            }
            let slot = slots[Int(tail & mask)]
            let base = UnsafeRawPointer(arena + slot.arenaOffset)
            let properties = base + slot.topicLength
            let message = Message(
                topic: UnsafeRawBufferPointer(start: base, count: slot.topicLength),
                payload: UnsafeRawBufferPointer(start: properties + slot.propertiesLength, count: slot.payloadLength),
                properties: UnsafeRawBufferPointer(start: properties, count: slot.propertiesLength),
                qos: slot.qos,
                retain: slot.retain,
                packetID: slot.packetID,
                receivedAt: slot.receivedAt
            )
            guard body(message) else { return false }
            if consumed.compareExchange(expected: tail, desired: tail + 1, ordering: .acquiringAndReleasing).exchanged {
                if pageReleaseChunk == 0 {
                    consumedBytes.wrappingAdd(UInt64(slot.cost), ordering: .releasing)
                } else {
                    heldBytes += slot.cost
                    if heldBytes >= pageReleaseChunk { releaseHeld(keepingPartialPage: true) }
                }
                return true
            }
            rollback()
        }
    }

    /// Hands the held bytes back to the producer, first giving their whole pages back to the system. Safe because held
    /// bytes still count as used: the producer writes only into released bytes, and under a policy that never
    /// discards, bytes are released in arena order, so the free space it sees is exactly the run of arena that ends
    /// where the held bytes start.
    private func releaseHeld(keepingPartialPage: Bool) {
        // Only the consumer adds to `consumedBytes` while bytes are held (the producer's rewind needs a drained ring),
        // so this is where the held bytes start.
        let start = Int(consumedBytes.load(ordering: .relaxed) % UInt64(arenaCapacity))
        var released = heldBytes
        if keepingPartialPage {
            // Keep the bytes of a last, partly consumed page held: the next release covers the whole page, so the
            // pages given back line up and none is left resident at a boundary.
            let end = (start + heldBytes) % arenaCapacity
            let partial = end % Int(getpagesize())
            if partial < heldBytes { released -= partial }
        }
        let end = start + released
        giveBackPages(from: start, to: min(end, arenaCapacity))
        if end > arenaCapacity { giveBackPages(from: 0, to: end - arenaCapacity) }
        consumedBytes.wrappingAdd(UInt64(released), ordering: .releasing)
        heldBytes -= released
    }

    /// `MADV_DONTNEED` for the whole pages in `lower..<upper` past the arena's first `rewindThreshold` bytes.
    private func giveBackPages(from lower: Int, to upper: Int) {
        let page = Int(getpagesize())
        let first = (max(lower, rewindThreshold) + page - 1) / page * page
        let last = upper / page * page
        guard last > first else { return }
        _ = madvise(arena + first, last - first, MADV_DONTNEED)
    }
}
