import Foundation
import Glibc
import Synchronization
import Testing

/// Scale-out against a real mosquitto (2.0 supports `$share/GROUP/filter`): several processes or several
/// connections of one process share the load of one subscription, and several sources of one rivven-connect file
/// run side by side.
@Suite("scale-out", .timeLimit(.minutes(5)))
struct ScaleOutTests {
    /// Lines for the top level of a config file: no HTTP endpoint (several gateways run at once in these tests).
    private static let noMetrics = ["metrics:", "  listen: off"]

    /// A connector file for `url` with `extra` lines under `config:` and the top-level lines after it.
    private static func yaml(url: String, topics: [String], extra: [String]) -> String {
        Gateway.connectorYAML(url: url, topics: topics, extra: extra) + noMetrics.joined(separator: "\n") + "\n"
    }

    /// The payloads (decimal numbers) and client ids of the records in `directory`, by `log cat`.
    private static func records(in directory: String, of gateway: Gateway) async throws -> [(
        number: Int, clientID: String, topic: String
    )] {
        let result = try await gateway.command(["log", "cat", "--dir", directory])
        guard result.status == 0 else { throw HarnessError("log cat \(directory) failed: \(result.stderr)") }
        return result.stdout.split(separator: "\n").compactMap { line in
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let value = record["value"] as? String,
                let envelope = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any],
                let number = envelope[path: "data", "payload"] as? Int,
                let clientID = envelope[path: "data", "metadata", "client_id"] as? String,
                let topic = envelope[path: "data", "topic"] as? String
            else { return nil }
            return (number, clientID, topic)
        }
    }

    /// How many records the log in `directory` holds (`log stat`: counted by the child process, so polling it costs
    /// the test process nothing, unlike parsing `log cat`).
    private static func recordCount(in directory: String, of gateway: Gateway) async -> Int {
        guard let result = try? await gateway.command(["log", "stat", "--dir", directory, "--json"]),
            result.status == 0,
            let stat = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        else { return 0 }
        return stat["records"] as? Int ?? 0
    }

    /// Waits (up to 60 s) until the logs of `gateways` hold at least `count` records together.
    private static func waitForRecords(_ count: Int, in gateways: [(Gateway, String)]) async -> Bool {
        await Eventually.wait(timeout: .seconds(60), interval: .milliseconds(500)) {
            var total = 0
            for (gateway, directory) in gateways { total += await recordCount(in: directory, of: gateway) }
            return total >= count
        }
    }

    /// How many times `text` occurs in the gateway's stderr.
    private static func occurrences(of text: String, in gateway: Gateway) -> Int {
        gateway.process.stderrText.components(separatedBy: text).count - 1
    }

    /// `nil` when `numbers` holds each of 1…`total` exactly once, else a short account of what is missing or
    /// doubled (failure messages stay readable).
    private static func problem(_ numbers: [Int], total: Int) -> String? {
        var seen: [Int: Int] = [:]
        for number in numbers { seen[number, default: 0] += 1 }
        let missing = (1...total).filter { seen[$0] == nil }
        let doubled = seen.filter { $0.value > 1 }.keys.sorted()
        let foreign = seen.keys.filter { !(1...total).contains($0) }.sorted()
        guard !missing.isEmpty || !doubled.isEmpty || !foreign.isEmpty else { return nil }
        return "\(numbers.count) records: \(missing.count) missing (first \(missing.prefix(5))), "
            + "\(doubled.count) more than once (first \(doubled.prefix(5))), unexpected \(foreign.prefix(5))"
    }

    /// `count` numbered QoS 1 messages, 1…count, on `topic` over one publisher connection.
    private static func publishNumbered(_ count: Int, to broker: MosquittoBroker, topic: String) async throws {
        try await MQTTTool.publishMany(
            to: broker.endpoint(),
            topic: topic,
            messages: (1...count).map(String.init),
            qos: 1
        )
    }

    @Test func twoProcessesWithOneSharedGroupSplitTheLoad() async throws {
        let total = 2000
        try await MosquittoBroker.with { broker in
            var gateways: [Gateway] = []
            for name in ["scale-a", "scale-b"] {
                let gateway = try Gateway(
                    yaml: Self.yaml(
                        url: broker.url,
                        topics: ["fleet/#"],
                        extra: ["qos: 1", "client_id: \(name)", "shared_group: ingest"]
                    )
                )
                try await gateway.start()
                gateways.append(gateway)
            }
            #expect(broker.log.contains("$share/ingest/fleet/#"), "the broker saw no shared subscription")
            try await Self.publishNumbered(total, to: broker, topic: "fleet/m1")

            #expect(await Self.waitForRecords(total, in: gateways.map { ($0, $0.logDirectory) }))
            for gateway in gateways { #expect(await gateway.stop() == 0) }
            var parts: [[Int]] = []
            for gateway in gateways {
                parts.append(try await Self.records(in: gateway.logDirectory, of: gateway).map(\.number))
            }
            try #require(parts.count == 2)
            #expect(parts.allSatisfy { !$0.isEmpty }, "one process got nothing: \(parts.map(\.count))")
            let both = Set(parts[0]).intersection(parts[1])
            #expect(both.isEmpty, "\(both.count) messages went to both processes")
            #expect(Self.problem(parts[0] + parts[1], total: total) == nil)
        }
    }

    @Test func twoConnectionsOfOneProcessSplitTheLoad() async throws {
        let total = 2000
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Self.yaml(
                    url: broker.url,
                    topics: ["fleet/#"],
                    extra: ["qos: 1", "client_id: scale-gw", "shared_group: ingest", "connections: 2"]
                )
            )
            try await gateway.start()
            let both = await Eventually.wait { Self.occurrences(of: "MQTT subscribed", in: gateway) >= 2 }
            #expect(both, "\(gateway.process.stderrText)")
            try await Self.publishNumbered(total, to: broker, topic: "fleet/m2")
            #expect(await Self.waitForRecords(total, in: [(gateway, gateway.logDirectory)]))
            #expect(await gateway.stop() == 0)
            let records = try await Self.records(in: gateway.logDirectory, of: gateway)
            // One log (one writer) for the source, fed by both connections; each record names its connection.
            let byClient = Dictionary(grouping: records, by: \.clientID).mapValues { $0.map(\.number) }
            #expect(Set(byClient.keys) == ["scale-gw-1", "scale-gw-2"], "client ids: \(byClient.keys.sorted())")
            #expect(byClient.values.allSatisfy { !$0.isEmpty })
            #expect(Self.problem(records.map(\.number), total: total) == nil)
            // Both client ids connected to the broker.
            #expect(broker.log.contains("scale-gw-1") && broker.log.contains("scale-gw-2"))
        }
    }

    /// A member of a group killed with `kill -9` mid-stream loses nothing with `clean_session: false`: the broker keeps
    /// its share (what was in flight and what it deals the member while it is away) until it returns.
    @Test func killedGroupMemberGetsItsShareWhenItReturns() async throws {
        let total = 10000
        try await MosquittoBroker.with { broker in
            var gateways: [Gateway] = []
            for name in ["scale-ka", "scale-kb"] {
                let gateway = try Gateway(
                    yaml: Self.yaml(
                        url: broker.url,
                        topics: ["fleet/#"],
                        extra: ["qos: 1", "client_id: \(name)", "clean_session: false", "shared_group: ingest"]
                    )
                )
                try await gateway.start()
                gateways.append(gateway)
            }
            let publishing = PublishingFlag()
            let publisher = Task {
                defer { publishing.finish() }
                try await Self.publishNumbered(total, to: broker, topic: "fleet/m4")
            }
            let victim = gateways[0]
            let started = await Eventually.wait(timeout: .seconds(60), interval: .milliseconds(100)) {
                await Self.recordCount(in: victim.logDirectory, of: victim) >= 100
            }
            #expect(started)
            victim.process.signal(SIGKILL)
            let killedMidStream = publishing.isPublishing
            #expect(await victim.process.waitForExit() == 128 + SIGKILL)
            try await publisher.value
            let beforeRestart = try await Self.records(in: victim.logDirectory, of: victim).count
            // Back under the same client id and log directory, as a supervisor restarts it.
            let restarted = Gateway(reusing: victim.directory)
            try await restarted.start()
            gateways[0] = restarted

            // At least `total` records (there may be duplicates), then every number.
            #expect(await Self.waitForRecords(total, in: gateways.map { ($0, $0.logDirectory) }))
            var numbers: [Int] = []
            let complete = await Eventually.wait(timeout: .seconds(60), interval: .seconds(1)) {
                numbers = []
                for gateway in gateways {
                    numbers += ((try? await Self.records(in: gateway.logDirectory, of: gateway)) ?? []).map(\.number)
                }
                return Set(numbers).count >= total
            }
            #expect(complete, "\(Set(numbers).count) of \(total) messages")
            for gateway in gateways { #expect(await gateway.stop() == 0) }
            numbers = []
            for gateway in gateways {
                numbers += try await Self.records(in: gateway.logDirectory, of: gateway).map(\.number)
            }
            // Redelivered messages may be written twice (counted as duplicates); none may be missing.
            #expect(Self.problem(Array(Set(numbers)), total: total) == nil)
            // The returning member received its share queued while it was away (when the publisher was still at work
            // at the kill, which 10 000 QoS 1 messages through one mosquitto_pub make all but certain).
            let afterRestart = try await Self.records(in: restarted.logDirectory, of: restarted).count
            if killedMidStream {
                #expect(
                    afterRestart > beforeRestart,
                    "\(beforeRestart) records before the restart, then \(afterRestart)"
                )
            }
        }
    }

    /// `check` against the configuration of a running group must not join the group: a member that leaves with a
    /// clean session drops the messages the broker dealt it.
    @Test func checkTakesNoMessagesFromARunningGroup() async throws {
        let total = 10000
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Self.yaml(
                    url: broker.url,
                    topics: ["fleet/#"],
                    extra: ["qos: 1", "client_id: scale-ck", "shared_group: ingest", "connections: 2"]
                )
            )
            try await gateway.start()
            #expect(await Eventually.wait { Self.occurrences(of: "MQTT subscribed", in: gateway) >= 2 })
            // (A Task, not `async let`: Swift 6.3.1's AccessEnforcementSelection crashes on the latter here.)
            let publisher = Task { try await Self.publishNumbered(total, to: broker, topic: "fleet/m3") }
            for _ in 0..<5 {
                let check = try await gateway.command(["check", "--config", gateway.configPath])
                #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
                #expect(
                    check.stdout.contains(
                        "ok     mqtt subscribe $share/ingest/fleet/# [mqtt-source]: granted QoS 1 "
                            + "(probed as $share/ingest-check/fleet/#)"
                    ),
                    "\(check.stdout)"
                )
            }
            try await publisher.value
            #expect(await Self.waitForRecords(total, in: [(gateway, gateway.logDirectory)]))
            #expect(await gateway.stop() == 0)
            let records = try await Self.records(in: gateway.logDirectory, of: gateway)
            #expect(Self.problem(records.map(\.number), total: total) == nil)
            #expect(broker.log.contains("scale-ck-1-check 1 $share/ingest-check/fleet/#"))
            #expect(!broker.log.contains("scale-ck-1-check 1 $share/ingest/fleet/#"), "check joined the group")
        }
    }

    @Test func connectionsWithoutASharedGroupIsAConfigError() async throws {
        let gateway = try Gateway(
            yaml: Self.yaml(url: "mqtt://127.0.0.1:1883", topics: ["fleet/#"], extra: ["connections: 2"])
        )
        for command in ["run", "check", "discover"] {
            let result = try await gateway.command([command, "--config", gateway.configPath])
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("config.connections: 2 connections need `shared_group`"), "\(result.stderr)")
        }
    }

    @Test func sourcesOfARivvenConnectFileRunSideBySideEachWithItsOwnLog() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: """
                    version: "1.0"
                    sources:
                      line-a:
                        connector: mqtt-source
                        topic: line-a-events
                        config:
                          broker_url: \(broker.url)
                          topics: ["scale/a/#"]
                          qos: 1
                          client_id: scale-la
                      line-b:
                        connector: mqtt-source
                        topic: line-b-events
                        config:
                          broker_url: \(broker.url)
                          topics: ["scale/b/+"]
                          qos: 1
                          client_id: scale-lb
                          shared_group: line-b
                          connections: 2
                    metrics:
                      listen: off
                    """
            )
            try await gateway.start()
            // line-a's one connection and line-b's two.
            let all = await Eventually.wait { Self.occurrences(of: "MQTT subscribed", in: gateway) >= 3 }
            #expect(all, "\(gateway.process.stderrText)")
            try await Self.publishNumbered(300, to: broker, topic: "scale/a/x")
            try await Self.publishNumbered(200, to: broker, topic: "scale/b/y")
            try await Self.publishNumbered(10, to: broker, topic: "scale/c/z")

            let lineA = gateway.logDirectory + "/line-a"
            let lineB = gateway.logDirectory + "/line-b"
            #expect(await Self.waitForRecords(500, in: [(gateway, lineA), (gateway, lineB)]))
            #expect(await gateway.stop() == 0)

            let a = try await Self.records(in: lineA, of: gateway)
            let b = try await Self.records(in: lineB, of: gateway)
            #expect(Self.problem(a.map(\.number), total: 300) == nil)
            #expect(a.map(\.number) == a.map(\.number).sorted(), "line-a: one connection keeps the order")
            #expect(Set(a.map(\.topic)) == ["scale/a/x"] && Set(a.map(\.clientID)) == ["scale-la"])
            #expect(Self.problem(b.map(\.number), total: 200) == nil)
            #expect(Set(b.map(\.topic)) == ["scale/b/y"])
            #expect(Set(b.map(\.clientID)) == ["scale-lb-1", "scale-lb-2"])
            // The log directory itself holds only the sources' directories.
            let entries = try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory).sorted()
            #expect(entries == ["line-a", "line-b"])
        }
    }
}

/// Whether a background publisher is still at work.
private final class PublishingFlag: Sendable {
    private let done = Mutex(false)

    var isPublishing: Bool { !done.withLock { $0 } }

    func finish() {
        done.withLock { $0 = true }
    }
}
