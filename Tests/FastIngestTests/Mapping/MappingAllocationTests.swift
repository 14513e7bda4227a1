import FastIngest
import Glibc
import Testing

/// The hot paths allocate nothing once their buffers are warm: 10 000 runs each, counted through the Swift runtime's
/// allocation hook (``AllocationCounter``) in an exit test's child process, whose exit status is the count.
@Suite("Mapping allocations", .enabled(if: AllocationCounter.isAvailable))
struct MappingAllocationTests {
    /// The counter sees allocations, so the zeros below mean something.
    @Test func counterSeesAllocations() async {
        await #expect(processExitsWith: .exitCode(10)) {
            AllocationCounter.exit(with: MappingAllocationProbe.tenArrays())
        }
    }

    @Test func publishPathDoesNotAllocate() async {
        await #expect(processExitsWith: .exitCode(0)) {
            AllocationCounter.exit(with: MappingAllocationProbe.publishPath())
        }
    }

    @Test func keyExtractionDoesNotAllocate() async {
        await #expect(processExitsWith: .exitCode(0)) {
            AllocationCounter.exit(with: MappingAllocationProbe.keyExtraction())
        }
    }

    @Test func routingDoesNotAllocate() async {
        await #expect(processExitsWith: .exitCode(0)) {
            AllocationCounter.exit(with: MappingAllocationProbe.routing())
        }
    }
}

/// What the allocation tests run in their child processes. Every `String` the measured code touches is built at run
/// time and longer than 15 bytes (see ``AllocationCounter``).
enum MappingAllocationProbe {
    static let iterations = 10_000

    /// A native (heap) copy of `text`, which must be longer than 15 UTF-8 bytes (shorter ones are always small).
    static func native(_ text: String) -> String {
        precondition(text.utf8.count > 15, "a string of at most 15 bytes cannot be native")
        return String(decoding: Array(text.utf8), as: UTF8.self)
    }

    /// Swift Testing installs the runtime's `swift_willThrow` hooks in the test process (to record where errors were
    /// thrown), and they allocate for every `throw`. The JSON scanner throws (typed, caught locally) on invalid input;
    /// without the hooks, as in the gateway, that does not allocate. The child process turns them off.
    static func removeThrowHooks() {
        for name in ["_swift_willThrow", "_swift_willThrowTypedImpl"] {
            dlsym(nil, name)?.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee = nil
        }
    }

    static func tenArrays() -> Int? {
        var sink: [[UInt8]] = []
        sink.reserveCapacity(1)
        return AllocationCounter.count {
            for index in 0..<10 {
                sink.append([UInt8](repeating: UInt8(index), count: 100 + index))
                sink.removeAll(keepingCapacity: true)
            }
        }
    }

    static func publishPath() -> Int? {
        guard
            let mapper = try? RecordMapper(
                router: TopicRouter(staticTopic: native("iot-events-all-sites"), template: native("plant.{1}.{topic}")),
                deadLetterTopic: native("iot-dead-letter-topic"),
                maxPayloadBytes: 1 << 20,
                connectorName: native("plant-a-connector")
            )
        else { return nil }
        var topic: [UInt8] = []
        var key: [UInt8] = []
        var value: [UInt8] = []
        var published = 0
        let count = MappingTestSupport.withInput(
            topic: "site-7/line-2/temperature",
            key: Array("device-42".utf8),
            value: Array(#"{"t":21.5}"#.utf8)
        ) { input in
            let now = WallClockTime(nanosecondsSinceEpoch: 0)
            // Warm the buffers.
            _ = mapper.map(input, now: now, topic: &topic, key: &key, value: &value)
            return AllocationCounter.count {
                for _ in 0..<iterations {
                    let decision = mapper.map(input, now: now, topic: &topic, key: &key, value: &value)
                    if decision == .publish(hasKey: true) { published += 1 }
                }
            }
        }
        // A wrong result is reported as a count that cannot be mistaken for success.
        guard published == iterations, topic == Array("plant.site-7.site-7.line-2.temperature".utf8) else { return 102 }
        return count
    }

    static let payloads = [
        #"{"seq":1,"device_identifier":"device-42","t":21.5}"#,
        #"{"device_identifier":"d\u00e9vice-\ud83d\ude00","t":21.5}"#,
        #"{"t":[1,2,{"x":null}],"device_identifier":-12.5e3}"#,
        #"{"device_identifier":{"site":"a","line":[1,2]},"t":1}"#,
        #"{"device_identifier":null}"#,
        #"{"other":1}"#,
        #"{"device_identifier":1"#,
        "[1,2,3]",
    ]

    static func keyExtraction() -> Int? {
        removeThrowHooks()
        var extractor = RecordKeyExtractor(.jsonField(native("device_identifier")))
        var out: [UInt8] = []
        let topic = Array("site-7/line-2".utf8)
        var total = 0
        var keys = 0
        for payload in payloads {
            let bytes = Array(payload.utf8)
            let count = topic.withUnsafeBytes { topicBuffer in
                bytes.withUnsafeBytes { payloadBuffer in
                    _ = extractor.appendKey(topic: topicBuffer, payload: payloadBuffer, into: &out)
                    return AllocationCounter.count {
                        for _ in 0..<iterations {
                            out.removeAll(keepingCapacity: true)
                            if extractor.appendKey(topic: topicBuffer, payload: payloadBuffer, into: &out) {
                                keys += 1
                            }
                        }
                    }
                }
            }
            guard let count else { return nil }
            total += count
        }
        guard keys == 4 * iterations else { return 102 }
        return total
    }

    static func routing() -> Int? {
        guard
            let router = try? TopicRouter(
                staticTopic: native("iot-events-all-sites"),
                template: native("iot.{2}-{1}.readings")
            )
        else { return nil }
        var out: [UInt8] = []
        let topic = Array("sensors/room1/temperature".utf8)
        var routed = 0
        let count = topic.withUnsafeBytes { topicBuffer in
            _ = router.route(topic: topicBuffer, into: &out)
            return AllocationCounter.count {
                for _ in 0..<iterations {
                    out.removeAll(keepingCapacity: true)
                    if router.route(topic: topicBuffer, into: &out) == .routed { routed += 1 }
                }
            }
        }
        guard routed == iterations, out == Array("iot.room1-sensors.readings".utf8) else { return 102 }
        return count
    }
}
