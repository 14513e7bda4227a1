import FastIngest
import Foundation
import Testing

/// `run` with a `broker:` section, end to end: a real mosquitto in front, the in-tree Rivven test server behind
/// (RivvenTestServer, written from WIRE.md), the gateway binary in between.
@Suite("forward to rivven", .timeLimit(.minutes(5)))
struct ForwardTests {
    /// A connector file forwarding `seq/#` at QoS 1 to `iot-events` on the test server at `port`.
    static func yaml(mqtt: String, rivven port: UInt16, config: [String] = [], top: [String] = []) -> String {
        Gateway.connectorYAML(
            url: mqtt,
            topics: ["seq/#"],
            extra: ["qos: at_least_once", "clean_session: false", "client_id: gw-fwd", "retry_initial_ms: 20"]
                + config
        ) + "broker:\n  bootstrap_servers: [\"127.0.0.1:\(port)\"]\n" + top.joined(separator: "\n")
            + (top.isEmpty ? "" : "\n")
    }

    /// The payload numbers of stored envelope records, in the order of `records`.
    static func numbers(_ records: [RivvenStoredRecord]) -> [Int] {
        records.compactMap { record in
            guard let object = try? JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any] else {
                return nil
            }
            if let number = object[path: "data", "payload"] as? Int { return number }
            return (object[path: "data", "payload"] as? String).flatMap { Int($0) }
        }
    }

    /// Publishes `range` as numbered QoS 1 messages on `seq/n`.
    static func publish(_ range: ClosedRange<Int>, to broker: MosquittoBroker) async throws {
        try await MQTTTool.publishMany(
            to: broker.endpoint(),
            topic: "seq/n",
            messages: range.map(String.init),
            qos: 1,
            timeout: .seconds(240)
        )
    }

    /// Waits until the server holds `count` records of `topic` (or the timeout passes) and returns them.
    static func waitForStored(
        _ server: RivvenTestServer,
        topic: String = "iot-events",
        count: Int,
        timeout: Duration = .seconds(60)
    ) async -> [RivvenStoredRecord] {
        var records: [RivvenStoredRecord] = []
        _ = await Eventually.wait(timeout: timeout, interval: .milliseconds(50)) {
            records = server.allRecords(topic: topic)
            return records.count >= count
        }
        return records
    }

    /// A raw-format gateway whose local log holds only 1 MiB (one segment), so that with Rivven refusing
    /// connections it fills after about 700 padded messages.
    static func smallLogGateway(mqtt: String, rivven port: UInt16) throws -> Gateway {
        try Gateway(
            yaml: yaml(
                mqtt: mqtt,
                rivven: port,
                config: ["format: raw"],
                top: ["log:", "  max_bytes: 1MiB", "  segment_bytes: 1MiB"]
            )
        )
    }

    /// Publishes `1...total` at QoS 1 on `seq/n` as `"N ppp…"` (1 000 bytes of padding), in the background.
    static func publishPadded(_ total: Int, to broker: MosquittoBroker) -> Task<Void, any Error> {
        let padding = String(repeating: "p", count: 1000)
        return Task {
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "seq/n",
                messages: (1...total).map { "\($0) \(padding)" },
                qos: 1,
                timeout: .seconds(240)
            )
        }
    }

    @Test func everyMessageIsStoredOnceByteExactInOrder() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Self.yaml(mqtt: broker.url, rivven: port))
            try await gateway.start()
            let total = 5000
            try await Self.publish(1...total, to: broker)
            let stored = await Self.waitForStored(server, count: total)
            #expect(stored.count == total)
            #expect(Self.numbers(stored) == Array(1...total), "not in order or not all there")
            // The topic was created with broker.partitions (1) and every record is there, in log order.
            #expect(server.partitionCount(topic: "iot-events") == 1)
            #expect(await gateway.stop() == 0)
            // Byte-exact: what Rivven stored is what the local log holds, record for record.
            let logged = try await gateway.logCat().compactMap { $0["value"] as? String }
            #expect(logged.count == total)
            #expect(stored.map { String(decoding: $0.value, as: UTF8.self) } == logged)
            #expect(stored.allSatisfy { $0.key == nil })
            // The checkpoint says everything was acknowledged.
            let checkpoint = try String(contentsOfFile: gateway.logDirectory + "/forwarded", encoding: .utf8)
            #expect(checkpoint == "\(total)\n")
            #expect(gateway.process.stderrText.contains("connected to Rivven"))
            #expect(server.statistics.requests("IdempotentPublishBatch") >= 1)
            #expect(server.statistics.requests("PublishBatch") == 0)
        }
    }

    @Test func rawRecordsWithTopicKeysSpreadOverPartitionsByMurmur2() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Self.yaml(
                    mqtt: broker.url,
                    rivven: port,
                    config: ["format: raw"],
                    top: ["  partitions: 3", "  idempotent: false"]
                )
            )
            try await gateway.start()
            for device in 0..<6 {
                try await MQTTTool.publishMany(
                    to: broker.endpoint(),
                    topic: "seq/dev\(device)",
                    messages: (1...20).map { "d\(device)-\($0)" },
                    qos: 1
                )
            }
            let stored = await Self.waitForStored(server, count: 120)
            #expect(stored.count == 120)
            #expect(await gateway.stop() == 0)
            #expect(server.partitionCount(topic: "iot-events") == 3)
            for device in 0..<6 {
                let key = Array("seq/dev\(device)".utf8)
                let expected = RivvenPartitioner.partition(forKey: key, partitionCount: 3)
                let mine = stored.filter { $0.key == key }
                #expect(mine.count == 20)
                #expect(mine.allSatisfy { $0.partition == expected })
                // Per key (so per partition) in publish order.
                #expect(mine.map { String(decoding: $0.value, as: UTF8.self) } == (1...20).map { "d\(device)-\($0)" })
            }
            #expect(server.statistics.requests("PublishBatch") >= 1)
            #expect(server.statistics.requests("IdempotentPublishBatch") == 0)
        }
    }

    @Test(arguments: [RivvenServerFaults.DropPoint.beforeHandling, .afterHandlingBeforeReply])
    func connectionDropsEveryFiftyRequestsLoseAndDuplicateNothing(point: RivvenServerFaults.DropPoint) async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        // Small batches so that many requests flow and many drops happen.
        server.faults.dropConnection(every: 50, at: point)
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Self.yaml(mqtt: broker.url, rivven: port, top: ["batch:", "  max_messages: 10"])
            )
            try await gateway.start()
            let total = 6000
            try await Self.publish(1...total, to: broker)
            let stored = await Self.waitForStored(server, count: total, timeout: .seconds(120))
            // Give a late duplicate the chance to show up before judging.
            try await Task.sleep(for: .milliseconds(300))
            let numbers = Self.numbers(server.allRecords(topic: "iot-events"))
            #expect(stored.count >= total)
            #expect(numbers.count == total, "\(numbers.count - Set(numbers).count) duplicates stored")
            #expect(numbers == Array(1...total))
            #expect(await gateway.stop() == 0)
            let drops = server.statistics.connectionsDroppedByFault
            #expect(drops >= 5, "only \(drops) drops: the fault did not exercise resending")
            if point == .afterHandlingBeforeReply {
                // Lost replies were resent with the same sequence numbers and recognised as duplicates.
                #expect(server.statistics.duplicatesDetected >= 1)
            }
            #expect(gateway.process.stderrText.contains("Rivven connection lost"))
        }
    }

    @Test func rivvenDownAtStartAndForTenSecondsMidStream() async throws {
        let port = UInt16(FreePort.allocate())
        let server = RivvenTestServer(configuration: .init(port: port))
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Self.yaml(mqtt: broker.url, rivven: port))
            try await gateway.start()
            // Down at start: records go to the local log and wait.
            try await Self.publish(1...1000, to: broker)
            #expect(await gateway.waitForRecords(1000).count == 1000)
            #expect(gateway.process.stderrText.contains("cannot reach Rivven"))
            _ = try server.start()
            var stored = await Self.waitForStored(server, count: 1000)
            #expect(Self.numbers(stored) == Array(1...1000))

            // Down for 10 s mid-stream (connections refused and cut; the broker keeps its data and producer state).
            let publisher = Task { try await Self.publish(1001...4000, to: broker) }
            try await Task.sleep(for: .milliseconds(200))
            server.faults.refuseConnections(true)
            server.closeAllConnections()
            try await Task.sleep(for: .seconds(10))
            server.faults.refuseConnections(false)
            try await publisher.value
            stored = await Self.waitForStored(server, count: 4000, timeout: .seconds(60))
            #expect(Self.numbers(stored) == Array(1...4000))
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func brokerRestartThatForgetsProducersGetsANewProducerID() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Self.yaml(mqtt: broker.url, rivven: port))
            try await gateway.start()
            try await Self.publish(1...500, to: broker)
            _ = await Self.waitForStored(server, count: 500)
            server.forgetProducers()
            try await Self.publish(501...1000, to: broker)
            let stored = await Self.waitForStored(server, count: 1000)
            #expect(Self.numbers(stored) == Array(1...1000))
            #expect(await gateway.stop() == 0)
            #expect(gateway.process.stderrText.contains("took a new producer id"))
            #expect(server.statistics.requests("InitProducerId") == 2)
        }
    }

    /// QoS 1, persistent session: kill -9 the gateway three times while messages flow to Rivven; every message
    /// reaches Rivven (a record acknowledged after the last checkpoint may be stored twice, never lost).
    @Test func killNineWhileForwardingLosesNothing() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with(MosquittoBroker.Options(maxInflight: 100)) { broker in
            var gateway = try Gateway(yaml: Self.yaml(mqtt: broker.url, rivven: port))
            let directory = gateway.directory
            try await gateway.start()
            let total = 10_000
            let publisher = Task { try await Self.publish(1...total, to: broker) }
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...900)))
                gateway.process.signal(SIGKILL)
                #expect(await gateway.process.waitForExit() == 128 + SIGKILL)
                gateway = Gateway(reusing: directory)
                try await gateway.start()
            }
            try await publisher.value
            var numbers: [Int] = []
            let complete = await Eventually.wait(timeout: .seconds(120), interval: .milliseconds(200)) {
                numbers = Self.numbers(server.allRecords(topic: "iot-events"))
                return Set(numbers).count == total
            }
            #expect(complete, "missing \(total - Set(numbers).count) of \(total)")
            #expect(await gateway.stop() == 0)
            print("forward kill -9 ×3: \(numbers.count) stored for \(total) messages")
        }
    }

    /// `log.fsync: never` with Rivven: a QoS 1 message is acknowledged to the MQTT broker only once Rivven has it.
    /// Rivven refuses connections, messages arrive; the gateway is killed and its log deleted (what a power loss
    /// does to unsynced page cache); a new gateway with Rivven back gets every message again from the broker,
    /// because none was acknowledged.
    @Test func fsyncNeverHoldsAcknowledgementsUntilRivvenHasTheRecords() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        server.faults.refuseConnections(true)
        try await MosquittoBroker.with { broker in
            let yaml = Self.yaml(mqtt: broker.url, rivven: port, top: ["log:", "  fsync: never"])
            var gateway = try Gateway(yaml: yaml)
            let directory = gateway.directory
            try await gateway.start()
            let publisher = Task { try await Self.publish(1...300, to: broker) }
            #expect(await gateway.waitForRecords(10).count >= 10)
            try await publisher.value
            try await Task.sleep(for: .seconds(1))
            // No acknowledgement left, so the broker's in-flight window stopped the flow short of 300.
            let logged = await gateway.records().count
            #expect(logged < 300, "all 300 arrived: acknowledgements were released without Rivven")
            gateway.process.signal(SIGKILL)
            _ = await gateway.process.waitForExit()
            try FileManager.default.removeItem(atPath: gateway.logDirectory)
            server.faults.refuseConnections(false)
            gateway = Gateway(reusing: directory)
            try await gateway.start()
            let stored = await Self.waitForStored(server, count: 300)
            #expect(Set(Self.numbers(stored)) == Set(1...300))
            #expect(await gateway.stop() == 0)
        }
    }

    /// Rivven down and `log.max_bytes` reached: intake pauses (the broker keeps the QoS 1 messages), nothing is lost;
    /// when Rivven returns, forwarded segments are deleted and intake resumes.
    @Test func fullLogPausesIntakeUntilRivvenTakesRecords() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        server.faults.refuseConnections(true)
        try await MosquittoBroker.with { broker in
            let gateway = try Self.smallLogGateway(mqtt: broker.url, rivven: port)
            try await gateway.start()
            let total = 3000
            let publisher = Self.publishPadded(total, to: broker)
            let full = await gateway.process.waitForStderr(containing: "local log is full", timeout: .seconds(60))
            #expect(full, "\(gateway.process.stderrText)")
            server.faults.refuseConnections(false)
            try await publisher.value
            let stored = await Self.waitForStored(server, count: total, timeout: .seconds(90))
            let numbers = stored.compactMap { Int(String(decoding: $0.value, as: UTF8.self).split(separator: " ")[0]) }
            #expect(numbers == Array(1...total))
            #expect(gateway.process.stderrText.contains("intake resumed"))
            #expect(await gateway.stop() == 0)
            // Retention deleted what was forwarded: the log is back under its cap.
            let stat = try await gateway.command(["log", "stat", "--dir", gateway.logDirectory, "--json"])
            #expect(stat.status == 0)
            let segments = try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory)
                .filter { $0.hasSuffix(".log") }
            #expect(segments.count <= 2, "\(segments)")
        }
    }

    /// Socket writes to Rivven go through io_uring where it is usable, and through send(2) when it is disabled; the
    /// records arrive either way.
    @Test(arguments: [false, true])
    func socketWritesUseIOURingOrTheFallback(disabled: Bool) async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Self.yaml(mqtt: broker.url, rivven: port))
            try gateway.process.start(
                arguments: ["run", "--config", gateway.configPath],
                environment: disabled ? ["RIVVEN_MQTT_DISABLE_IO_URING": "1"] : [:],
                currentDirectory: gateway.directory.path
            )
            #expect(await gateway.process.waitForStderr(containing: "connected to Rivven"))
            let usable = try await gateway.command(["version"]).stdout.contains("io_uring: usable")
            let line = gateway.process.stderrText.split(separator: "\n").first { $0.contains("connected to Rivven") }
            let transport = line?.split(separator: " ").first { $0.hasPrefix("transport=") }
            #expect(transport == (usable && !disabled ? "transport=tcp+io_uring" : "transport=tcp"), "\(line ?? "")")
            try await Self.publish(1...200, to: broker)
            #expect(Self.numbers(await Self.waitForStored(server, count: 200)) == Array(1...200))
            #expect(await gateway.stop() == 0)
        }
    }

    /// `examples/rivven-connect.yaml` unchanged (two MQTT sources, environment variables for the addresses): each
    /// source forwards to its own topic, through its own log and forwarder.
    @Test func rivvenConnectExampleForwardsEachSourceToItsTopic() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/rivven-connect.yaml")
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: try String(contentsOf: example, encoding: .utf8))
            try gateway.process.start(
                arguments: ["run", "--config", gateway.configPath],
                environment: ["RIVVEN_BROKER": "127.0.0.1:\(port)", "MQTT_URL": broker.url],
                currentDirectory: gateway.directory.path
            )
            #expect(await gateway.process.waitForStderr(containing: "connected to Rivven"))
            #expect(await gateway.process.waitForStderr(containing: "MQTT subscribed"))
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "plant-a/line1",
                messages: (1...50).map(String.init),
                qos: 1
            )
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "plant-b/m7/telemetry",
                messages: (1...30).map(String.init),
                qos: 1
            )
            #expect(Self.numbers(await Self.waitForStored(server, topic: "plant-a-events", count: 50)) == Array(1...50))
            #expect(Self.numbers(await Self.waitForStored(server, topic: "plant-b-events", count: 30)) == Array(1...30))
            #expect(await gateway.stop() == 0)
            #expect(server.statistics.requests("InitProducerId") == 2)
        }
    }
}
