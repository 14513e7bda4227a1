import Synchronization
import Testing

@testable import FastIngest

/// The MQTT thread's side of acknowledgement-after-durable-write: when it stops reading and when held
/// acknowledgements may leave.
@Suite("RingHandler")
struct RingHandlerTests {
    private static func makeHandler(commitCount: Int) -> (RingHandler, MessageRing) {
        let ring = MessageRing(messages: 1024, bytes: 1 << 20)
        let handler = RingHandler(
            ring: ring,
            policy: .block,
            maxPayloadBytes: 1024,
            commitCount: commitCount,
            counters: IngestCounters(),
            writer: WriterSignal(),
            onOversize: { _, _, _ in },
            onDrop: { _, _ in }
        )
        return (handler, ring)
    }

    private static func deliver(_ handler: RingHandler, qos: UInt8, packetID: Int) {
        let topic: [UInt8] = Array("t/1".utf8)
        let payload: [UInt8] = [1, 2, 3]
        topic.withUnsafeBytes { topicBytes in
            payload.withUnsafeBytes { payloadBytes in
                handler.handle(
                    MQTTInboundMessage(
                        topic: topicBytes,
                        payload: payloadBytes,
                        properties: UnsafeRawBufferPointer(start: nil, count: 0),
                        qos: qos,
                        retain: false,
                        packetID: packetID,
                        connectionIndex: 0
                    )
                )
            }
        }
    }

    /// The writer's side, reduced to what the handler sees: everything consumed is durable.
    private static func makeEverythingDurable(_ ring: MessageRing) {
        while ring.consume({ _ in true }, rollback: {}) == true {}
        ring.durable.store(ring.consumedCount, ordering: .releasing)
    }

    private static func waits(_ ring: MessageRing) -> Bool { ring.producerWaits.load(ordering: .acquiring) }

    @Test func stopsReadingAtTheCommitCountAndResumesOnceDurable() {
        let (handler, ring) = Self.makeHandler(commitCount: 3)
        #expect(handler.commit(), "nothing taken yet: the connection's own packets may leave")
        for id in 1...2 { Self.deliver(handler, qos: 1, packetID: id) }
        #expect(handler.canAcceptMore)
        #expect(!handler.commit(), "two QoS 1 messages are not durable yet: their PUBACKs must wait")
        Self.deliver(handler, qos: 1, packetID: 3)
        #expect(!handler.canAcceptMore, "three held acknowledgements = the commit count: stop reading")
        #expect(Self.waits(ring), "the writer is asked to commit at once")
        Self.makeEverythingDurable(ring)
        #expect(handler.commit())
        #expect(handler.canAcceptMore)
        #expect(!Self.waits(ring))
    }

    @Test func qos0MessagesDoNotCountTowardsTheCommit() {
        let (handler, _) = Self.makeHandler(commitCount: 2)
        for _ in 0..<10 { Self.deliver(handler, qos: 0, packetID: 0) }
        #expect(handler.canAcceptMore)
    }

    @Test func aDrainedSocketAsksForACommitOnlyWhileAcknowledgementsAreHeld() {
        let (handler, ring) = Self.makeHandler(commitCount: 100)
        handler.socketDrained()
        #expect(!Self.waits(ring))
        Self.deliver(handler, qos: 1, packetID: 7)
        handler.socketDrained()
        #expect(Self.waits(ring))
    }

    @Test func commitCountIsNeverBelowTheWindowNorAboveThePacketIDSpace() {
        // Defaults (max_inflight 100, batch.max_messages 1000): ten batches per commit.
        #expect(RingHandler.commitCount(maxInflight: 100, batchMaxMessages: 1000) == 10_000)
        #expect(RingHandler.commitCount(maxInflight: 20_000, batchMaxMessages: 10) == 20_000)
        #expect(RingHandler.commitCount(maxInflight: 1, batchMaxMessages: 1) == 10)
        #expect(RingHandler.commitCount(maxInflight: 100, batchMaxMessages: 10_000) == 65_535)
    }
}
