import Testing

@testable import FastIngest

@Suite("MessageRing")
struct MessageRingTests {
    private func push(
        _ ring: MessageRing,
        _ topic: String,
        _ payload: [UInt8],
        qos: UInt8 = 0,
        policy: WhenFull = .block,
        dropped: inout Int
    ) -> MessageRing.PushResult {
        Array(topic.utf8).withUnsafeBytes { t in
            payload.withUnsafeBytes { p in
                ring.push(
                    topic: t,
                    payload: p,
                    qos: qos,
                    retain: qos == 2,
                    packetID: UInt16(qos) * 7,
                    receivedAt: Int64(payload.count),
                    dropPolicy: policy,
                    droppedOldest: &dropped
                )
            }
        }
    }

    private func push(
        _ ring: MessageRing,
        _ topic: String,
        _ payload: [UInt8],
        qos: UInt8 = 0,
        policy: WhenFull = .block
    )
        -> MessageRing.PushResult
    {
        var dropped = 0
        return push(ring, topic, payload, qos: qos, policy: policy, dropped: &dropped)
    }

    /// Pops one message as (topic, payload, qos, retain, packetID, receivedAt).
    private func pop(_ ring: MessageRing) -> (String, [UInt8], UInt8, Bool, UInt16, Int64)? {
        var out: (String, [UInt8], UInt8, Bool, UInt16, Int64)?
        let result = ring.consume { m in
            out = (
                String(decoding: m.topic, as: UTF8.self), Array(m.payload), m.qos, m.retain, m.packetID, m.receivedAt
            )
            return true
        } rollback: {
            out = nil
        }
        return result == true ? out : nil
    }

    private func push(
        _ ring: MessageRing,
        _ topic: String,
        _ payload: [UInt8],
        properties: [UInt8],
        qos: UInt8 = 0,
        policy: WhenFull = .block
    ) -> MessageRing.PushResult {
        var dropped = 0
        return Array(topic.utf8).withUnsafeBytes { t in
            payload.withUnsafeBytes { p in
                properties.withUnsafeBytes { block in
                    ring.push(
                        topic: t,
                        payload: p,
                        properties: block,
                        qos: qos,
                        retain: false,
                        packetID: 1,
                        receivedAt: 0,
                        dropPolicy: policy,
                        droppedOldest: &dropped
                    )
                }
            }
        }
    }

    /// Pops one message as (topic, property block, payload).
    private func popWithProperties(_ ring: MessageRing) -> (String, [UInt8], [UInt8])? {
        var out: (String, [UInt8], [UInt8])?
        let result = ring.consume { m in
            out = (String(decoding: m.topic, as: UTF8.self), Array(m.properties), Array(m.payload))
            return true
        } rollback: {
            out = nil
        }
        return result == true ? out : nil
    }

    @Test func capacityRoundsUpToAPowerOfTwo() {
        #expect(MessageRing(messages: 1000, bytes: 4096).slotCount == 1024)
        #expect(MessageRing(messages: 1024, bytes: 4096).slotCount == 1024)
        #expect(MessageRing(messages: 1, bytes: 4096).slotCount == 1)
    }

    @Test func messagesComeOutInOrderWithExactBytesAndFields() {
        let ring = MessageRing(messages: 64, bytes: 4096)
        var expected: [(String, [UInt8], UInt8)] = []
        for i in 0..<40 {
            let payload = (0..<(i % 7)).map { UInt8(truncatingIfNeeded: $0 * 37 + i) }
            let qos = UInt8(i % 3)
            #expect(push(ring, "t/\(i)", payload, qos: qos) == .queued)
            expected.append(("t/\(i)", payload, qos))
        }
        #expect(ring.availableCount == 40)
        for (topic, payload, qos) in expected {
            let m = pop(ring)
            #expect(m?.0 == topic)
            #expect(m?.1 == payload)
            #expect(m?.2 == qos)
            #expect(m?.3 == (qos == 2))
            #expect(m?.4 == UInt16(qos) * 7)
            #expect(m?.5 == Int64(payload.count))
        }
        #expect(pop(ring) == nil)
        #expect(ring.consumedCount == 40)
    }

    @Test func arenaWrapsWithoutCorruptingMessages() {
        // 100-byte arena, 30-byte messages: every few pushes the next one does not fit at the end and wraps.
        let ring = MessageRing(messages: 8, bytes: 100)
        for round in 0..<50 {
            let payload = [UInt8](repeating: UInt8(round), count: 28)
            #expect(push(ring, "ab", payload) == .queued, "round \(round)")
            #expect(push(ring, "cd", payload.map { $0 &+ 1 }) == .queued, "round \(round)")
            #expect(pop(ring)?.1 == payload)
            #expect(pop(ring)?.1 == payload.map { $0 &+ 1 })
        }
    }

    /// A consumer that keeps up keeps the messages in the first pages of the arena (resident memory follows the
    /// backlog); with a backlog the whole arena is used, and the bytes stay exact either way.
    @Test func anEmptyRingStartsAgainAtTheArenaBeginning() {
        let ring = MessageRing(messages: 1024, bytes: 1 << 16)  // rewinds at offset 4096
        var lowest = UInt.max
        var highest: UInt = 0
        func popTracking() -> [UInt8]? {
            var payload: [UInt8]?
            _ = ring.consume { message in
                let address = UInt(bitPattern: message.topic.baseAddress!)
                lowest = min(lowest, address)
                highest = max(highest, address)
                payload = Array(message.payload)
                return true
            } rollback: {
            }
            return payload
        }
        for round in 0..<2000 {
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 100)
            #expect(push(ring, "t", payload) == .queued)
            #expect(popTracking() == payload)
        }
        #expect(highest - lowest < 4096 + 101, "spread \(highest - lowest) bytes over the arena")

        // With a backlog of 400 messages (40 KB) the arena fills far past the threshold, and everything comes back.
        lowest = .max
        highest = 0
        for round in 0..<20 {
            for index in 0..<400 {
                #expect(
                    push(ring, "t", [UInt8](repeating: UInt8(truncatingIfNeeded: index &+ round), count: 100))
                        == .queued
                )
            }
            for index in 0..<400 {
                #expect(popTracking() == [UInt8](repeating: UInt8(truncatingIfNeeded: index &+ round), count: 100))
            }
        }
        #expect(highest - lowest > 30_000)
        #expect(ring.availableCount == 0)
    }

    /// A message longer than both the room left at the arena's end and its beginning still fits an empty ring (it
    /// used to get `.full` for ever: with buffer.capacity_bytes 1 MiB the MQTT thread, asking for 1 MiB of headroom,
    /// never read again).
    @Test func anEmptyRingTakesAnyMessageUpToTheArena() {
        let ring = MessageRing(messages: 64, bytes: 1 << 20)  // rewinds on its own only past 64 KiB
        let small = [UInt8](repeating: 1, count: 10_000)
        #expect(push(ring, "t", small) == .queued)
        #expect(pop(ring)?.1 == small)
        #expect(ring.hasRoom(forBytes: 1 << 20), "an empty ring has the whole arena")
        let whole = [UInt8](repeating: 7, count: (1 << 20) - 1)
        #expect(push(ring, "t", whole) == .queued)
        #expect(!ring.hasRoom(forBytes: 1))
        #expect(pop(ring)?.1 == whole)
        // And the arena is whole again afterwards, at any position.
        for size in [300_000, 900_000, 1 << 19, (1 << 20) - 1] {
            #expect(ring.hasRoom(forBytes: 1 << 20))
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: size), count: size)
            #expect(push(ring, "t", payload) == .queued, "\(size) bytes")
            #expect(pop(ring)?.1 == payload)
        }
        #expect(ring.availableCount == 0)
    }

    /// drop_oldest that empties the ring to make room: the message then starts at the arena's beginning and costs
    /// only its own bytes, so the room left is exactly the rest of the arena.
    @Test func droppingEverythingOlderRewindsTheArena() {
        let ring = MessageRing(messages: 64, bytes: 1 << 20)
        #expect(push(ring, "t", [UInt8](repeating: 1, count: 10_000)) == .queued)
        #expect(pop(ring) != nil)
        #expect(push(ring, "t", [UInt8](repeating: 2, count: 600_000)) == .queued)
        var dropped = 0
        let large = [UInt8](repeating: 3, count: 900_000)
        #expect(push(ring, "t", large, policy: .dropOldest, dropped: &dropped) == .queued)
        #expect(dropped == 1)
        #expect(ring.hasRoom(forBytes: (1 << 20) - 900_001), "the arena past the message is free")
        #expect(!ring.hasRoom(forBytes: (1 << 20) - 900_000))
        #expect(pop(ring)?.1 == large)
        #expect(ring.availableCount == 0)
    }

    @Test func fullByBytesOrSlotsBlocksUnderBlockPolicy() {
        let bySlots = MessageRing(messages: 2, bytes: 4096)
        #expect(push(bySlots, "a", [1]) == .queued)
        #expect(push(bySlots, "a", [2]) == .queued)
        #expect(push(bySlots, "a", [3]) == .full)
        #expect(!bySlots.hasRoom(forBytes: 1))
        _ = pop(bySlots)
        #expect(push(bySlots, "a", [3]) == .queued)

        let byBytes = MessageRing(messages: 64, bytes: 64)
        #expect(push(byBytes, "a", [UInt8](repeating: 0, count: 40)) == .queued)
        #expect(push(byBytes, "a", [UInt8](repeating: 0, count: 40)) == .full)
        #expect(push(byBytes, "a", [UInt8](repeating: 0, count: 200)) == .tooLarge)
    }

    @Test func dropNewestDropsOnlyQoS0() {
        let ring = MessageRing(messages: 2, bytes: 4096)
        #expect(push(ring, "a", [1], qos: 1) == .queued)
        #expect(push(ring, "a", [2], qos: 0) == .queued)
        #expect(push(ring, "a", [3], qos: 0, policy: .dropNewest) == .dropped)
        #expect(push(ring, "a", [4], qos: 1, policy: .dropNewest) == .full)
        #expect(pop(ring)?.1 == [1])
        #expect(pop(ring)?.1 == [2])
        #expect(pop(ring) == nil)
    }

    @Test func dropOldestDiscardsOldestQoS0AndNeverQoS1() {
        let ring = MessageRing(messages: 4, bytes: 4096)
        for i in 0..<4 { #expect(push(ring, "a", [UInt8(i)], qos: 0) == .queued) }
        var dropped = 0
        #expect(push(ring, "a", [9], qos: 0, policy: .dropOldest, dropped: &dropped) == .queued)
        #expect(dropped == 1)
        #expect(pop(ring)?.1 == [1])

        let qos1First = MessageRing(messages: 2, bytes: 4096)
        #expect(push(qos1First, "a", [1], qos: 1) == .queued)
        #expect(push(qos1First, "a", [2], qos: 0) == .queued)
        dropped = 0
        // The oldest is QoS 1: it is never discarded; the new QoS 0 message is dropped instead.
        #expect(push(qos1First, "a", [3], qos: 0, policy: .dropOldest, dropped: &dropped) == .dropped)
        #expect(dropped == 0)
        #expect(push(qos1First, "a", [4], qos: 1, policy: .dropOldest, dropped: &dropped) == .full)
        #expect(pop(qos1First)?.1 == [1])
    }

    @Test func propertiesRoundTripBetweenTopicAndPayload() {
        let ring = MessageRing(messages: 16, bytes: 4096)
        let block = PropertyFixture.block(PropertyFixture.full)
        #expect(push(ring, "p/1", Array("payload".utf8), properties: block, qos: 1) == .queued)
        #expect(push(ring, "p/2", Array("none".utf8), properties: []) == .queued)
        #expect(push(ring, "p/3", [], properties: PropertyFixture.block([.formatIndicator(0)])) == .queued)
        #expect(push(ring, "p/4", [1, 2]) == .queued)
        let first = popWithProperties(ring)
        #expect(first?.0 == "p/1")
        #expect(first?.1 == block)
        #expect(first.map { PropertyFixture.entries($0.1) } == PropertyFixture.full)
        #expect(first?.2 == Array("payload".utf8))
        let second = popWithProperties(ring)
        #expect(second?.0 == "p/2" && second?.1 == [] && second?.2 == Array("none".utf8))
        let third = popWithProperties(ring)
        #expect(third?.0 == "p/3" && third?.1 == [6, 0] && third?.2 == [])
        let fourth = popWithProperties(ring)
        #expect(fourth?.0 == "p/4" && fourth?.1 == [] && fourth?.2 == [1, 2])
    }

    @Test func propertyBytesCountAgainstTheArena() {
        let ring = MessageRing(messages: 64, bytes: 64)
        let block = [UInt8](repeating: 0, count: 30)
        // 1 + 30 + 20 = 51 bytes: fits; a second one does not (the payload alone would).
        #expect(push(ring, "a", [UInt8](repeating: 1, count: 20), properties: block) == .queued)
        #expect(!ring.hasRoom(forBytes: 51))
        #expect(push(ring, "a", [UInt8](repeating: 2, count: 20), properties: block) == .full)
        #expect(push(ring, "a", [UInt8](repeating: 2, count: 12)) == .queued)
        // Larger than the arena only because of its properties.
        #expect(push(ring, "a", [UInt8](repeating: 3, count: 40), properties: block) == .tooLarge)
        // Releasing the first message frees all 51 of its bytes, properties included.
        _ = popWithProperties(ring)
        #expect(ring.hasRoom(forBytes: 51))
        #expect(push(ring, "a", [UInt8](repeating: 4, count: 20), properties: block) == .queued)
        #expect(!ring.hasRoom(forBytes: 1))
        #expect(popWithProperties(ring)?.2 == [UInt8](repeating: 2, count: 12))
        let last = popWithProperties(ring)
        #expect(last?.1 == block && last?.2 == [UInt8](repeating: 4, count: 20))
    }

    @Test func arenaWrapsWithPropertiesWithoutCorruptingMessages() {
        // 128-byte arena, messages of 2 + 6…14 + 19 bytes: two always fit, wrapping at varying positions.
        let ring = MessageRing(messages: 8, bytes: 128)
        for round in 0..<60 {
            let block = PropertyFixture.block([.user("r", String(repeating: "x", count: round % 9))])
            let payload = [UInt8](repeating: UInt8(round), count: 19)
            #expect(push(ring, "ab", payload, properties: block) == .queued, "round \(round)")
            #expect(push(ring, "cd", payload.map { $0 &+ 1 }, properties: block) == .queued, "round \(round)")
            for (topic, bytes) in [("ab", payload), ("cd", payload.map { $0 &+ 1 })] {
                let message = popWithProperties(ring)
                #expect(message?.0 == topic)
                #expect(message?.1 == block)
                #expect(message?.2 == bytes)
            }
        }
    }

    @Test func dropOldestFreesThePropertyBytesToo() {
        let ring = MessageRing(messages: 8, bytes: 64)
        let block = [UInt8](repeating: 9, count: 25)
        #expect(push(ring, "a", [1], properties: block) == .queued)  // 27 bytes
        #expect(push(ring, "a", [2], properties: block) == .queued)  // 54 bytes
        #expect(push(ring, "a", [3], properties: block, policy: .dropOldest) == .queued)
        let survivor = popWithProperties(ring)
        #expect(survivor?.2 == [2] && survivor?.1 == block)
        #expect(popWithProperties(ring)?.2 == [3])
        #expect(popWithProperties(ring) == nil)
    }

    @Test func consumerCanDeclineAndRetry() {
        let ring = MessageRing(messages: 4, bytes: 4096)
        _ = push(ring, "a", [1])
        #expect(ring.consume({ _ in false }, rollback: {}) == false)
        #expect(ring.availableCount == 1)
        #expect(pop(ring)?.1 == [1])
    }

    /// A ring that gives consumed pages back keeps every message intact through many laps of its arena while a
    /// backlog persists, and afterwards holds few resident pages beyond the first ones.
    @Test func givingPagesBackKeepsMessagesAndFreesTheArena() throws {
        let ring = MessageRing(messages: 4096, bytes: 8 << 20, givesBackPages: true)
        #expect(ring.givesBackPages)
        #expect(!MessageRing(messages: 4096, bytes: 8 << 20).givesBackPages)
        let small = MessageRing(messages: 64, bytes: 1 << 20, givesBackPages: true)
        #expect(!small.givesBackPages, "rings under 8 MiB keep their pages")
        var sequence = 0
        var expected = 0
        func payload(_ index: Int) -> [UInt8] {
            var bytes = withUnsafeBytes(of: UInt64(index).littleEndian) { Array($0) }
            bytes += [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 500 + index % 2000)
            return bytes
        }
        // A backlog of 1 000–2 000 messages (1.5–3 MB) kept for 40 000 messages: ~7 laps of the 8 MiB arena.
        for round in 0..<40 {
            for _ in 0..<1000 {
                #expect(push(ring, "t", payload(sequence)) == .queued)
                sequence += 1
            }
            guard round > 0 else { continue }
            for _ in 0..<1000 {
                let message = try #require(pop(ring))
                #expect(message.1 == payload(expected))
                expected += 1
            }
        }
        while let message = pop(ring) {
            #expect(message.1 == payload(expected))
            expected += 1
        }
        #expect(expected == sequence)
        let resident = try #require(ring.residentArenaBytes())
        // Pages of consumed messages went back: what stays is the first 512 KiB (where a ring that keeps up lives)
        // and a page or two at the edges.
        #expect(resident <= (512 << 10) + 16 << 10, "\(resident) arena bytes resident")
        #expect(pop(ring) == nil)
    }

    @Test func concurrentProducerAndConsumerLoseNothingWhileGivingPagesBack() async {
        // ~24 MB through an 8 MiB arena: three laps.
        let corrupt = await Self.transfer(
            20_000,
            through: MessageRing(messages: 4096, bytes: 8 << 20, givesBackPages: true)
        ) {
            200 + $0 % 2000
        }
        #expect(corrupt == 0)
    }

    @Test func concurrentProducerAndConsumerLoseNothing() async {
        let corrupt = await Self.transfer(200_000, through: MessageRing(messages: 256, bytes: 8192)) { $0 % 50 }
        #expect(corrupt == 0)
    }

    /// Pushes `total` messages from a detached task while this task consumes them; message `i` is its sequence number
    /// then `filler(i)` bytes of `i`. Returns how many came out wrong (all must come out, in order).
    private static func transfer(_ total: Int, through ring: MessageRing, filler: @escaping @Sendable (Int) -> Int)
        async -> Int
    {
        let producer = Task.detached {
            var i = 0
            while i < total {
                var bytes = withUnsafeBytes(of: UInt64(i).littleEndian) { Array($0) }
                bytes += [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: filler(i))
                var dropped = 0
                let result = Array("seq".utf8).withUnsafeBytes { t in
                    bytes.withUnsafeBytes { p in
                        ring.push(
                            topic: t,
                            payload: p,
                            qos: 1,
                            retain: false,
                            packetID: 0,
                            receivedAt: 0,
                            dropPolicy: .block,
                            droppedOldest: &dropped
                        )
                    }
                }
                if result == .queued { i += 1 } else { await Task.yield() }
            }
        }
        var next = 0
        var corrupt = 0
        while next < total {
            let result = ring.consume { m in
                let value = m.payload.loadUnaligned(as: UInt64.self)
                if value != UInt64(next) || m.payload.count != 8 + filler(next)
                    || m.payload.dropFirst(8).contains(where: { $0 != UInt8(truncatingIfNeeded: next) })
                {
                    corrupt += 1
                }
                next += 1
                return true
            } rollback: {
            }
            if result == nil { await Task.yield() }
        }
        await producer.value
        return corrupt
    }
}
