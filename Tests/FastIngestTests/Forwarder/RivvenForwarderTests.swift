import Foundation
import Synchronization
import Testing

@testable import FastIngest

/// The forwarder alone: records appended to a real local log, forwarded to the in-tree Rivven test server, with
/// the server's faults and short tunables for the slow paths (keep-alive, refusals).
@Suite("rivven forwarder", .timeLimit(.minutes(5)))
struct RivvenForwarderTests {
    /// A forwarder over a fresh log, its events, and the server it talks to.
    final class Rig: @unchecked Sendable {
        let directory = LogTestDirectory()
        let log: LocalLog
        let link: ForwardingLink
        let forwarder: RivvenForwarder
        let counters = IngestCounters()
        let events = EventLog()
        let configuration: IngestConfiguration

        init(
            servers: [String],
            config: [String] = [],
            broker: [String] = [],
            batch: BatchConfiguration = BatchConfiguration(),
            tuning: RivvenForwarder.Tuning = RivvenForwarder.Tuning()
        ) throws {
            let yaml =
                """
                type: mqtt-source
                topic: iot
                config:
                  broker_url: mqtt://127.0.0.1:1883
                  topics: ["#"]
                \(config.map { "  \($0)" }.joined(separator: "\n"))
                broker:
                  bootstrap_servers: [\(servers.map { "\"\($0)\"" }.joined(separator: ", "))]
                \(broker.map { "  \($0)" }.joined(separator: "\n"))
                """
            configuration = try IngestConfiguration.parse(yaml: yaml, environment: [:], hostName: "gw")
            log = try LogTestSupport.open(directory.log, forwarding: true)
            link = ForwardingLink(
                durableEnd: log.nextOffset,
                acknowledged: log.readForwarded(),
                writerSignal: WriterSignal(),
                gateAcknowledgements: false
            )
            let source = configuration.sources[0]
            let events = self.events
            forwarder = RivvenForwarder(
                link: link,
                rivven: configuration.rivven!,
                source: source,
                mapper: try RecordMapper(source: source),
                batch: batch,
                directory: directory.log,
                startOffset: log.readForwarded(),
                counters: counters,
                tuning: tuning
            ) { event in
                events.lines.withLock { $0.append("\(event)") }
            }
        }

        /// Appends records with these topics/keys/values and publishes them as durable.
        func append(_ items: [(topic: String, key: String?, value: [UInt8])]) throws {
            let first = log.nextOffset
            let records = items.enumerated().map { index, item in
                LogRecord(
                    offset: first + UInt64(index),
                    receiveTimeMicros: 1_700_000_000_000_000,
                    topic: Array(item.topic.utf8),
                    qos: 1,
                    retain: false,
                    key: item.key.map { Array($0.utf8) },
                    value: item.value,
                    valueIsEnvelope: false
                )
            }
            try LogTestSupport.append(records, to: log)
            link.publishDurable(log.nextOffset)
        }

        func waitAcknowledged(_ offset: UInt64, timeout: Duration = .seconds(120)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if link.acknowledged.load(ordering: .acquiring) >= offset { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return link.acknowledged.load(ordering: .acquiring) >= offset
        }

        func eventText() -> String { events.lines.withLock { $0.joined(separator: "\n") } }

        func checkpoint() -> String? {
            try? String(contentsOfFile: directory.log + "/forwarded", encoding: .utf8)
        }

        deinit { directory.remove() }
    }

    @Test func forwardsInOrderAndWritesTheCheckpointAtStop() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let rig = try Rig(servers: ["127.0.0.1:\(port)"], batch: BatchConfiguration(maxMessages: 7))
        rig.forwarder.start()
        for round in 0..<10 {
            try rig.append((0..<25).map { ("a/b", nil, Array("\(round * 25 + $0)".utf8)) })
        }
        #expect(await rig.waitAcknowledged(250))
        rig.forwarder.stop()
        rig.forwarder.join()
        let values = server.allRecords(topic: "iot").map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values == (0..<250).map(String.init))
        #expect(rig.checkpoint() == "250\n")
        // max_messages 7: no batch bigger.
        #expect(rig.counters.rivvenBatchesForwarded.load(ordering: .relaxed) >= 250 / 7)
        #expect(rig.counters.rivvenRecordsForwarded.load(ordering: .relaxed) == 250)
    }

    @Test func routingDeadLettersAndKeys() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let rig = try Rig(
            servers: ["127.0.0.1:\(port)"],
            config: ["topic_routing: \"iot.{1}\"", "dead_letter_topic: iot-dlq", "max_payload_bytes: 16"],
            broker: ["partitions: 2"]
        )
        rig.forwarder.start()
        try rig.append([
            ("plant1/temp", "k1", Array("21.5".utf8)),
            ("plant2/temp", nil, Array("19.0".utf8)),
            ("bad level/x", nil, Array("unroutable".utf8)),
            ("plant1/temp", nil, Array(repeating: UInt8(ascii: "x"), count: 40)),
            ("plant1/temp", "k2", Array("22.0".utf8)),
        ])
        #expect(await rig.waitAcknowledged(5))
        rig.forwarder.stop()
        rig.forwarder.join()
        let plant1 = server.allRecords(topic: "iot.plant1")
        #expect(plant1.map { String(decoding: $0.value, as: UTF8.self) }.sorted() == ["21.5", "22.0"])
        for record in plant1 {
            let key = try #require(record.key)
            #expect(record.partition == RivvenPartitioner.partition(forKey: key, partitionCount: 2))
        }
        #expect(server.allRecords(topic: "iot.plant2").map(\.value) == [Array("19.0".utf8)])
        // Routed topics were created with broker.partitions.
        #expect(server.partitionCount(topic: "iot.plant1") == 2)
        let dead = server.allRecords(topic: "iot-dlq")
        #expect(dead.count == 2)
        let reasons = dead.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.value)) as? [String: Any])?["error"] as? String
        }
        #expect(reasons.contains { $0.contains("exceeds max_payload_bytes 16") }, "\(reasons)")
        #expect(reasons.count == 2)
        #expect(rig.counters.rivvenDeadLettered.load(ordering: .relaxed) == 2)
    }

    @Test func oversizeWithoutDeadLetterTopicIsCountedAndSkipped() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let rig = try Rig(servers: ["127.0.0.1:\(port)"], config: ["max_payload_bytes: 8"])
        rig.forwarder.start()
        try rig.append([("t", nil, Array("small".utf8)), ("t", nil, Array("far too large".utf8))])
        #expect(await rig.waitAcknowledged(2))
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.allRecords(topic: "iot").map(\.value) == [Array("small".utf8)])
        #expect(rig.counters.rivvenDropped.load(ordering: .relaxed) == 1)
        #expect(rig.eventText().contains("recordDropped(offset: 1"))
    }

    @Test func failsOverToTheNextBootstrapServer() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let dead = FreePortForTests.allocate()
        let rig = try Rig(servers: ["127.0.0.1:\(dead)", "127.0.0.1:\(port)"])
        rig.forwarder.start()
        try rig.append([("t", nil, Array("one".utf8))])
        #expect(await rig.waitAcknowledged(1))
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.allRecords(topic: "iot").count == 1)
        #expect(rig.eventText().contains("127.0.0.1:\(dead): cannot connect"))
        #expect(rig.counters.rivvenConnectFailures.load(ordering: .relaxed) >= 1)
    }

    /// While Rivven is unreachable, new records must not cut the reconnect backoff short (one attempt per written
    /// batch would hammer the broker and push the backoff to its ceiling at once).
    @Test func newRecordsDoNotCutTheBackoffShort() async throws {
        let dead = FreePortForTests.allocate()
        var tuning = RivvenForwarder.Tuning()
        // Delays drawn from 0…60 s: however slowly the appends below run on a loaded machine, a handful of attempts.
        tuning.reconnect = Backoff(initialMilliseconds: 60_000, maximumMilliseconds: 60_000, multiplier: 1)
        let rig = try Rig(servers: ["127.0.0.1:\(dead)"], tuning: tuning)
        rig.forwarder.start()
        for batch in 0..<50 {
            try rig.append([("t", nil, Array("\(batch)".utf8))])
            try await Task.sleep(for: .milliseconds(20))
        }
        rig.forwarder.stop()
        rig.forwarder.join()
        // 50 written batches: one attempt per batch would be 50.
        let attempts = rig.counters.rivvenConnectFailures.load(ordering: .relaxed)
        #expect(attempts >= 1 && attempts <= 20, "\(attempts) connection attempts")
    }

    @Test func logsInWithSCRAMOnEveryConnection() async throws {
        let server = RivvenTestServer(
            configuration: .init(requireAuth: true, users: [.init(name: "gw", password: "pw")])
        )
        let port = try server.start()
        defer { server.stop() }
        let rig = try Rig(servers: ["127.0.0.1:\(port)"], broker: ["auth:", "  username: gw", "  password: pw"])
        rig.forwarder.start()
        try rig.append([("t", nil, Array("one".utf8))])
        #expect(await rig.waitAcknowledged(1))
        server.closeAllConnections()
        try rig.append([("t", nil, Array("two".utf8))])
        #expect(await rig.waitAcknowledged(2))
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.allRecords(topic: "iot").map(\.value) == [Array("one".utf8), Array("two".utf8)])
        #expect(server.statistics.requests("ScramClientFinal") >= 2)
    }

    @Test func wrongPasswordIsReportedAndRetried() async throws {
        let server = RivvenTestServer(
            configuration: .init(requireAuth: true, users: [.init(name: "gw", password: "pw")])
        )
        let port = try server.start()
        defer { server.stop() }
        var tuning = RivvenForwarder.Tuning()
        tuning.reconnect = Backoff(initialMilliseconds: 10, maximumMilliseconds: 50, multiplier: 2)
        let rig = try Rig(
            servers: ["127.0.0.1:\(port)"],
            broker: ["auth:", "  username: gw", "  password: nope"],
            tuning: tuning
        )
        rig.forwarder.start()
        try rig.append([("t", nil, Array("one".utf8))])
        // Retried: wait for a second failed attempt (PBKDF2 makes each one slow in a debug build).
        let deadline = ContinuousClock.now + .seconds(60)
        while rig.counters.rivvenConnectFailures.load(ordering: .relaxed) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.allRecords(topic: "iot").isEmpty)
        #expect(rig.eventText().contains("authentication failed for user gw"))
        #expect(!rig.eventText().contains("nope"))
        #expect(rig.counters.rivvenConnectFailures.load(ordering: .relaxed) >= 2)
        #expect(rig.checkpoint() == nil)
    }

    @Test func errorRepliesAndThrottlingAreRetriedWithTheSameSequence() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        var tuning = RivvenForwarder.Tuning()
        tuning.reconnect = Backoff(initialMilliseconds: 10, maximumMilliseconds: 50, multiplier: 2)
        let rig = try Rig(servers: ["127.0.0.1:\(port)"], tuning: tuning)
        rig.forwarder.start()
        try rig.append([("t", nil, Array("zero".utf8))])
        #expect(await rig.waitAcknowledged(1))
        server.faults.failNext(2, kind: "IdempotentPublishBatch", message: "BUFFER_FULL: Server publish buffer is full")
        try rig.append([("t", nil, Array("one".utf8))])
        #expect(await rig.waitAcknowledged(2))
        server.faults.replyNext(
            1,
            kind: "IdempotentPublishBatch",
            with: .throttled(throttleTimeMs: 50, quotaType: "produce_bytes_rate", entity: "user:gw")
        )
        try rig.append([("t", nil, Array("two".utf8))])
        #expect(await rig.waitAcknowledged(3))
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.allRecords(topic: "iot").map(\.value) == ["zero", "one", "two"].map { Array($0.utf8) })
        #expect(rig.counters.rivvenErrorReplies.load(ordering: .relaxed) == 2)
        #expect(rig.counters.rivvenBatchesResent.load(ordering: .relaxed) == 3)
        #expect(rig.eventText().contains("BUFFER_FULL"))
        #expect(rig.eventText().contains("throttled"))
    }

    @Test func keepsTheConnectionAliveWithPing() async throws {
        // Idle for 6 s against a 4 s idle timeout, pinging every 100 ms: wide margins, so only a forwarder that does
        // not ping (or a machine that starves its thread for seconds) loses the connection.
        let server = RivvenTestServer(configuration: .init(idleTimeout: .seconds(4)))
        let port = try server.start()
        defer { server.stop() }
        var tuning = RivvenForwarder.Tuning()
        tuning.pingIntervalNanoseconds = 100_000_000
        let rig = try Rig(servers: ["127.0.0.1:\(port)"], tuning: tuning)
        rig.forwarder.start()
        try rig.append([("t", nil, Array("one".utf8))])
        #expect(await rig.waitAcknowledged(1))
        try await Task.sleep(for: .seconds(6))
        try rig.append([("t", nil, Array("two".utf8))])
        #expect(await rig.waitAcknowledged(2))
        rig.forwarder.stop()
        rig.forwarder.join()
        #expect(server.statistics.requests("Ping") >= 10)
        #expect(server.statistics.idleTimeouts == 0)
        #expect(!rig.eventText().contains("connectionLost"))
    }

    @Test func resumesFromTheCheckpointAfterARestart() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let rig = try Rig(servers: ["127.0.0.1:\(port)"])
        rig.forwarder.start()
        try rig.append((0..<10).map { ("t", nil, Array("\($0)".utf8)) })
        #expect(await rig.waitAcknowledged(10))
        rig.forwarder.stop()
        rig.forwarder.join()
        // Records appended while no forwarder runs, then a new forwarder over the same directory.
        try rig.append((10..<20).map { ("t", nil, Array("\($0)".utf8)) })
        let second = RivvenForwarder(
            link: ForwardingLink(
                durableEnd: rig.log.nextOffset,
                acknowledged: 10,
                writerSignal: WriterSignal(),
                gateAcknowledgements: false
            ),
            rivven: rig.configuration.rivven!,
            source: rig.configuration.sources[0],
            mapper: try RecordMapper(source: rig.configuration.sources[0]),
            batch: BatchConfiguration(),
            directory: rig.directory.log,
            startOffset: try #require(rig.checkpoint().flatMap { UInt64($0.dropLast()) }),
            counters: IngestCounters()
        ) { _ in }
        second.start()
        let deadline = ContinuousClock.now + .seconds(120)
        while second.link.acknowledged.load(ordering: .acquiring) < 20 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        second.stop()
        second.join()
        let values = server.allRecords(topic: "iot").map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values == (0..<20).map(String.init))
        #expect(rig.checkpoint() == "20\n")
    }
}

/// Events seen, for assertions.
final class EventLog: Sendable {
    let lines = Mutex<[String]>([])
}

/// A free TCP port on 127.0.0.1 (bound and released).
enum FreePortForTests {
    static func allocate() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}
