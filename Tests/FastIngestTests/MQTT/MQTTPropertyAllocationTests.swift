import FastIngest
import Testing

/// A message with MQTT 5 properties goes through the ring, the key extractor and the envelope encoder without a heap
/// allocation once the buffers are warm (counted as in ``MappingAllocationTests``).
@Suite("MQTT 5 property allocations", .enabled(if: AllocationCounter.isAvailable))
struct MQTTPropertyAllocationTests {
    @Test func ringKeyAndEnvelopeDoNotAllocate() async {
        await #expect(processExitsWith: .exitCode(0)) {
            AllocationCounter.exit(with: MQTTPropertyAllocationProbe.ringKeyAndEnvelope())
        }
    }
}

enum MQTTPropertyAllocationProbe {
    /// Enough to see any per-message allocation, and cheap: the child process competes for the CPU with the rest of
    /// the suite, whose timing-sensitive tests (the forwarder's) must not be starved.
    static let iterations = 1_000

    static func ringKeyAndEnvelope() -> Int? {
        let ring = MessageRing(messages: 64, bytes: 1 << 16)
        var extractor = RecordKeyExtractor(.property(MappingAllocationProbe.native("device-identifier")))
        var encoder = EnvelopeEncoder(
            brokerURL: MappingAllocationProbe.native("mqtt://broker.example:1883"),
            clientID: MappingAllocationProbe.native("rivven-gateway-client-7"),
            parseJSONPayload: true,
            includeMetadata: true
        )
        let block = PropertyFixture.block(
            [.user("site", "plant-a")] + PropertyFixture.full + [.user("device-identifier", "d-42")]
        )
        let topic = Array("site-7/line-2/temperature".utf8)
        let payload = Array(#"{"t":21.5,"unit":"C"}"#.utf8)
        var key: [UInt8] = []
        var out: [UInt8] = []
        var keys = 0
        var ok = true
        func roundTrip() {
            var dropped = 0
            let pushed = topic.withUnsafeBytes { t in
                payload.withUnsafeBytes { p in
                    block.withUnsafeBytes { b in
                        ring.push(
                            topic: t,
                            payload: p,
                            properties: b,
                            qos: 1,
                            retain: false,
                            packetID: 7,
                            receivedAt: 1,
                            dropPolicy: .block,
                            droppedOldest: &dropped
                        )
                    }
                }
            }
            if pushed != .queued { ok = false }
            let consumed = ring.consume { message in
                key.removeAll(keepingCapacity: true)
                out.removeAll(keepingCapacity: true)
                if extractor.appendKey(
                    topic: message.topic,
                    payload: message.payload,
                    properties: message.properties,
                    into: &key
                ) {
                    keys += 1
                }
                encoder.encode(
                    topic: message.topic,
                    payload: message.payload,
                    properties: message.properties,
                    qos: message.qos,
                    retain: message.retain,
                    pkid: Int(message.packetID),
                    receivedAt: WallClockTime(nanosecondsSinceEpoch: message.receivedAt),
                    encodedAt: WallClockTime(nanosecondsSinceEpoch: 2),
                    into: &out
                )
                return true
            } rollback: {
            }
            if consumed != true { ok = false }
        }
        // Warm the buffers.
        roundTrip()
        let count = AllocationCounter.count {
            for _ in 0..<iterations { roundTrip() }
        }
        // A wrong result is reported as a count that cannot be mistaken for success.
        let text = String(decoding: out, as: UTF8.self)
        guard ok, keys == iterations + 1, key == Array("d-42".utf8),
            text.contains(#""properties":{"user_properties":[["site","plant-a"],["device","dev-1"]"#)
        else { return 102 }
        return count
    }
}
