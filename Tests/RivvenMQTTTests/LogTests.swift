import Foundation
import Glibc
import Testing

/// The local durable log as the embedded default sink, end to end against a real mosquitto: what is acknowledged
/// is on disk, a crash loses nothing, a torn tail is repaired, and a stalled disk holds the acknowledgements.
@Suite("local log", .timeLimit(.minutes(8)))
struct LogTests {
    /// Sequence numbers found in the log (payloads are the decimal numbers, parsed as JSON numbers).
    @Test func runWritesTheLogAndLogCatReadsIt() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["l/#"], extra: ["qos: 1", "client_id: gw-log"])
            )
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "l/a", message: #"{"t":1}"#, qos: 1)
            try await MQTTTool.publish(
                to: broker.endpoint(),
                topic: "l/b",
                payload: [0xFF, 0x00],
                qos: 0,
                retain: false
            )
            let records = await gateway.waitForRecords(2)
            #expect(records.count == 2)
            #expect(await gateway.stop() == 0)
            #expect(gateway.process.stdoutText.isEmpty)
            #expect(gateway.process.stderrText.contains("local log open"))

            let lines = try await gateway.logCat()
            try #require(lines.count == 2)
            #expect(lines[0]["offset"] as? Int == 0)
            #expect(lines[1]["offset"] as? Int == 1)
            #expect(lines[0]["topic"] as? String == "l/a")
            #expect(lines[0]["qos"] as? Int == 1)
            #expect(lines[0]["retain"] as? Bool == false)
            #expect(lines[0]["key"] is NSNull)
            #expect((lines[0]["ts"] as? String)?.hasSuffix("Z") == true)
            let value = try #require(lines[0]["value"] as? String)
            #expect(value.hasPrefix(#"{"event_type":"record","stream":"l_a","namespace":null,"#))
            #expect(value.contains(#""payload":{"t":1}"#))
            #expect(lines[1]["qos"] as? Int == 0)

            let from = try await gateway.logCat(from: 1)
            #expect(from.count == 1 && from[0]["topic"] as? String == "l/b")

            let stat = try await gateway.command(["log", "stat", "--dir", gateway.logDirectory, "--json"])
            #expect(stat.status == 0, "\(stat.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(stat.stdout.utf8)) as? [String: Any])
            #expect(!(object.isEmpty))
        }
    }

    @Test func rawFormatKeepsTheExactPayloadAndTopicKey() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["raw/#"], extra: ["qos: 1", "format: raw"])
            )
            try await gateway.start()
            try await MQTTTool.publish(
                to: broker.endpoint(),
                topic: "raw/bin",
                payload: [0x00, 0xC3, 0x28, 0xFF],
                qos: 1
            )
            _ = await Eventually.wait { ((try? await gateway.logCat()) ?? []).count >= 1 }
            #expect(await gateway.stop() == 0)
            let lines = try await gateway.logCat()
            try #require(lines.count == 1)
            #expect(lines[0]["key"] as? String == "raw/bin")
            #expect(lines[0]["value_b64"] as? String == Data([0x00, 0xC3, 0x28, 0xFF]).base64EncodedString())
            #expect(lines[0]["value"] == nil)
        }
    }

    @Test(
        arguments: [
            ("json:device", [#"{"device":"dev-7","t":1}"#, #"{"t":2}"#, "not json"], ["dev-7", nil, nil]),
            ("topic", [#"{"device":"dev-7"}"#], ["keys/a"]),
            ("none", [#"{"device":"dev-7"}"#], [nil]),
        ] as [(String, [String], [String?])]
    )
    func recordKeysAreComputedAtIngest(spec: String, payloads: [String], keys: [String?]) async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["keys/#"], extra: ["qos: 1", "key: \"\(spec)\""])
            )
            try await gateway.start()
            for payload in payloads {
                try await MQTTTool.publish(to: broker.endpoint(), topic: "keys/a", message: payload, qos: 1)
            }
            #expect(await gateway.waitForRecords(payloads.count).count == payloads.count)
            #expect(await gateway.stop() == 0)
            let lines = try await gateway.logCat()
            #expect(lines.map { $0["key"] as? String } == keys)
            // The value stays the envelope whatever the key.
            #expect(lines.allSatisfy { ($0["value"] as? String)?.hasPrefix(#"{"event_type":"record""#) == true })
        }
    }

    /// QoS 1 with a persistent session: kill -9 the gateway three times while 20 000 numbered messages flow, then
    /// every number is in the log. Duplicates are allowed (redelivery of what was written but not yet acked).
    @Test func killNineAtRandomPointsLosesNothing() async throws {
        try await MosquittoBroker.with(MosquittoBroker.Options(maxInflight: 100)) { broker in
            let total = 20_000
            let started = try await Gateway.startUnderNumberedFlood(
                broker: broker,
                filter: "seq/#",
                topic: "seq/n",
                clientID: "gw-crash",
                total: total
            )
            var gateway = started.gateway
            let directory = gateway.directory
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...900)))
                gateway.process.signal(SIGKILL)
                #expect(await gateway.process.waitForExit() == 128 + SIGKILL)
                // Same directory (same log), same config: a restart as a supervisor would do it.
                gateway = Gateway(reusing: directory)
                try await gateway.start()
            }
            try await started.publisher.value
            let all = await gateway.expectEveryNumber(upTo: total)
            #expect(await gateway.stop() == 0)
            print("kill -9 ×3: \(all.count) records for \(total) messages, \(all.count - Set(all).count) duplicates")
        }
    }

    /// A torn last record (a crash in the middle of a write) is detected by its CRC at start-up and truncated; the
    /// records before it read back intact and new records continue after them.
    @Test func tornTailIsTruncatedAtStartup() async throws {
        try await MosquittoBroker.with { broker in
            let yaml = Gateway.connectorYAML(url: broker.url, topics: ["torn/#"], extra: ["qos: 1"])
            var gateway = try Gateway(yaml: yaml)
            let directory = gateway.directory
            try await gateway.start()
            for i in 1...5 {
                try await MQTTTool.publish(to: broker.endpoint(), topic: "torn/x", message: "\(i)", qos: 1)
            }
            #expect(await gateway.waitForRecords(5).count == 5)
            #expect(await gateway.stop() == 0)
            let segments = try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory)
                .filter { $0.hasSuffix(".log") }.sorted()
            let last = gateway.logDirectory + "/" + segments.last!
            let size = try FileManager.default.attributesOfItem(atPath: last)[.size] as! Int
            #expect(truncate(last, off_t(size - 7)) == 0)

            gateway = Gateway(reusing: directory)
            try await gateway.start()
            #expect(gateway.process.stderrText.contains("torn tail"))
            try await MQTTTool.publish(to: broker.endpoint(), topic: "torn/x", message: "6", qos: 1)
            let records = await gateway.waitForRecords(5)
            #expect(records.compactMap { $0[path: "data", "payload"] as? Int } == [1, 2, 3, 4, 6])
            let offsets = try await gateway.logCat().compactMap { $0["offset"] as? Int }
            #expect(offsets == [0, 1, 2, 3, 4])
            #expect(await gateway.stop() == 0)
        }
    }

    /// The writer is held by a file-size limit (RLIMIT_FSIZE: every write past it fails with EFBIG, as on a full
    /// disk). The broker's own log shows that no PUBACK left for messages that are not durable; once the limit is
    /// lifted the writes resume and every message is acknowledged.
    @Test func noPUBACKBeforeTheMessageIsDurable() async throws {
        guard let prlimit = BinaryProcess.which("prlimit") else {
            Issue.record("prlimit (util-linux) is required")
            return
        }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["hold/#"],
                    extra: ["qos: 1", "client_id: gw-hold"]
                )
            )
            try await gateway.start()
            let pid = try #require(gateway.process.pid)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "hold/first", message: "durable", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            let acked = { broker.log.components(separatedBy: "Received PUBACK from gw-hold").count - 1 }
            #expect(await Eventually.wait { acked() == 1 })

            // From now on no write can extend the segment file: the soft file-size limit is its current size.
            let segment = try #require(
                try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory).first { $0.hasSuffix(".log") }
            )
            let size = try #require(
                try FileManager.default.attributesOfItem(atPath: gateway.logDirectory + "/" + segment)[.size] as? Int
            )
            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=\(size):unlimited"])
            let publisher = Task {
                for i in 1...5 {
                    try await MQTTTool.publish(to: broker.endpoint(), topic: "hold/x", message: "\(i)", qos: 1)
                }
            }
            try await publisher.value
            #expect(await gateway.process.waitForStderr(containing: "cannot write the local log"))
            // The broker sent the messages to the gateway…
            #expect(await broker.waitForLog(containing: "Sending PUBLISH to gw-hold"))
            #expect(
                await Eventually.wait {
                    broker.log.components(separatedBy: "Sending PUBLISH to gw-hold").count - 1 >= 2
                }
            )
            // …but received no PUBACK for any of them while they are not on disk.
            #expect(acked() == 1, "\(broker.log)")
            #expect(await gateway.records().count == 1)

            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=unlimited:unlimited"])
            let all = await gateway.waitForRecords(6, timeout: .seconds(60))
            #expect(all.count == 6)
            #expect(await Eventually.wait(timeout: .seconds(30)) { acked() == 6 }, "\(broker.log)")
            #expect(gateway.process.stderrText.contains("local log writes recovered"))
            #expect(await gateway.stop() == 0)
        }
    }

    /// Acknowledgements held when the connection drops are lost with it: the broker redelivers those messages after
    /// the reconnect. Nothing is lost; the second copies are written and counted as duplicates.
    @Test func redeliveredMessagesAreCountedAsDuplicates() async throws {
        let prlimit = try #require(BinaryProcess.which("prlimit"), "prlimit (util-linux) is required")
        try await MosquittoBroker.with(MosquittoBroker.Options(persistence: true)) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["dup/#"],
                    extra: ["qos: 1", "clean_session: false", "client_id: gw-dup", "retry_initial_ms: 20"]
                )
            )
            try await gateway.start()
            let pid = try #require(gateway.process.pid)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "dup/0", message: "0", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            let segment = try #require(
                try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory).first { $0.hasSuffix(".log") }
            )
            let size = try #require(
                try FileManager.default.attributesOfItem(atPath: gateway.logDirectory + "/" + segment)[.size] as? Int
            )
            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=\(size):unlimited"])
            for i in 1...3 {
                try await MQTTTool.publish(to: broker.endpoint(), topic: "dup/x", message: "\(i)", qos: 1)
            }
            #expect(await gateway.process.waitForStderr(containing: "cannot write the local log"))
            try await broker.restart()
            #expect(await gateway.process.waitForStderr(containing: "MQTT connection lost"))
            #expect(
                await Eventually.wait {
                    gateway.process.stderrText.components(separatedBy: "MQTT connected").count - 1 >= 2
                },
                "\(gateway.process.stderrText)\n\(broker.currentRunLog)"
            )
            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=unlimited:unlimited"])
            let records = await gateway.waitForRecords(7, timeout: .seconds(60))
            let payloads = records.compactMap { $0[path: "data", "payload"] as? Int }
            #expect(Set(payloads) == [0, 1, 2, 3])
            #expect(payloads.count == 7, "\(payloads)")
            #expect(await gateway.stop() == 0)
            #expect(
                gateway.process.stderrText.contains(#""duplicates_redelivered":3"#),
                "\(gateway.process.stderrText)"
            )
        }
    }

    @Test func fallbackWriterIsUsedWhenIOURingIsDisabled() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["fb/#"], extra: ["qos: 1"]))
            try gateway.process.start(
                arguments: ["run", "--config", gateway.configPath],
                environment: ["RIVVEN_MQTT_DISABLE_IO_URING": "1"],
                currentDirectory: gateway.directory.path
            )
            #expect(await gateway.process.waitForStderr(containing: "MQTT subscribed"))
            #expect(gateway.process.stderrText.contains("io_uring not used"))
            #expect(gateway.process.stderrText.contains("log.writer=pwrite"))
            let version = try await BinaryProcess(executable: try BinaryProcess.productBinaryPath())
                .run(arguments: ["version"], environment: ["RIVVEN_MQTT_DISABLE_IO_URING": "1"])
            #expect(version.stdout.contains("io_uring: not used (disabled by RIVVEN_MQTT_DISABLE_IO_URING=1)"))
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "fb/x",
                messages: (1...50).map(String.init),
                qos: 1
            )
            #expect(await gateway.waitForRecords(50).count == 50)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func ioURingWriterIsUsedByDefaultWhereAvailable() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["u/#"]))
            try await gateway.start()
            let version = try await gateway.command(["version"])
            if version.stdout.contains("io_uring: usable") {
                #expect(gateway.process.stderrText.contains("log.writer=io_uring"))
            } else {
                #expect(gateway.process.stderrText.contains("log.writer=pwrite"))
            }
            #expect(await gateway.stop() == 0)
        }
    }
}
