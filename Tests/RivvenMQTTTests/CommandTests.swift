import Foundation
import Glibc
import Testing

/// `check`, `discover`, `version` and the bad-input rows of SPEC §9 as a user meets them.
@Suite("commands", .timeLimit(.minutes(5)))
struct CommandTests {
    private func product(_ arguments: [String], in directory: String? = nil) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await BinaryProcess(executable: try BinaryProcess.productBinaryPath())
            .run(arguments: arguments, currentDirectory: directory)
    }

    @Test func checkPassesAgainstAWorkingBroker() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["a/#", "b/+/c"], extra: ["qos: 1"])
            )
            let text = try await gateway.command(["check", "--config", gateway.configPath])
            #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
            let lines = text.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.hasPrefix("ok     config:") })
            #expect(lines.contains { $0.hasPrefix("ok     mqtt connect") })
            #expect(lines.contains { $0.hasPrefix("ok     mqtt subscribe a/# [mqtt-source]: granted QoS 1") })
            #expect(lines.contains { $0.hasPrefix("ok     mqtt subscribe b/+/c [mqtt-source]: granted QoS 1") })
            #expect(lines.contains { $0.hasPrefix("ok     log dir: ./data is writable") })

            let json = try await gateway.command(["check", "--config", gateway.configPath, "--json"])
            #expect(json.status == 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(object["ok"] as? Bool == true)
            let checks = try #require(object["checks"] as? [[String: Any]])
            #expect(checks.count == 5)
            #expect(checks.allSatisfy { $0["ok"] as? Bool == true })
        }
    }

    @Test func checkFailsWithTheOSErrorWhenTheBrokerIsUnreachable() async throws {
        let gateway = try Gateway(
            yaml: Gateway.connectorYAML(url: "mqtt://127.0.0.1:\(FreePort.allocate())", topics: ["a"])
        )
        let result = try await gateway.command(["check", "--config", gateway.configPath])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAILED mqtt connect [mqtt-source]: cannot connect to mqtt://127.0.0.1:"))
        #expect(result.stdout.contains("Connection refused"))
    }

    @Test func checkFailsWhenTheLogDirectoryIsNotWritable() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["a"]) + "log:\n  dir: /proc/rivven-mqtt-log\n"
            )
            let result = try await gateway.command(["check", "--config", gateway.configPath])
            #expect(result.status == 1)
            #expect(result.stdout.contains("FAILED log dir: cannot create /proc/rivven-mqtt-log"), "\(result.stdout)")
        }
    }

    @Test func badConfigurationListsEveryProblemAndExits2() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.file("bad.yaml")
        try """
        type: mqtt-source
        topic: iot-events
        config:
          broker_url: mqtt://localhost:1883
          topics: ["a/#/b"]
          keep_alive_secs: 3
          qos: sometimes
          clean_sesion: false
        """.write(toFile: path, atomically: true, encoding: .utf8)
        for command in ["run", "check", "discover"] {
            let result = try await product([command, "--config", path])
            #expect(result.status == 2, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("config.keep_alive_secs: 3 is below the minimum 5"), "\(result.stderr)")
            #expect(result.stderr.contains("config.qos"))
            #expect(result.stderr.contains("config.topics"))
            #expect(result.stderr.contains("config.clean_sesion"))
            #expect(result.stderr.contains("clean_session"), "did-you-mean hint missing")
        }
        let json = try await product(["check", "--config", path, "--json"])
        #expect(json.status == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let problems = try #require(object["config_errors"] as? [[String: Any]])
        #expect(problems.count >= 4)
    }

    @Test(arguments: [
        ("http://broker:1883", "scheme"),
        ("mqtt://:1883", "host"),
        ("mqtt://broker:70000", "port"),
        ("mqtt://broker:1883/path", "path"),
    ])
    func badBrokerURLNamesTheURLAndTheProblem(url: String, problem: String) async throws {
        let gateway = try Gateway(yaml: Gateway.connectorYAML(url: url, topics: ["a"]))
        let result = try await gateway.command(["run", "--config", gateway.configPath])
        #expect(result.status == 2)
        #expect(result.stderr.contains("config.broker_url"), "\(result.stderr)")
        #expect(result.stderr.contains(url), "\(result.stderr)")
        #expect(result.stderr.lowercased().contains(problem), "\(result.stderr)")
    }

    @Test func missingFileAndNonYAMLAreConfigErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let missing = try await product(["run", "--config", directory.file("nope.yaml")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.yaml"))
        let garbage = directory.file("garbage.yaml")
        try "type: [unclosed\n  : : :".write(toFile: garbage, atomically: true, encoding: .utf8)
        let parsed = try await product(["check", "--config", garbage])
        #expect(parsed.status == 2)
        #expect(parsed.stderr.contains("garbage.yaml"))
    }

    @Test func missingEnvironmentVariableIsNamed() async throws {
        let gateway = try Gateway(
            yaml: Gateway.connectorYAML(url: "${RIVVEN_MQTT_TEST_UNSET_URL}", topics: ["a"])
        )
        let result = try await gateway.command(["run", "--config", gateway.configPath])
        #expect(result.status == 2)
        #expect(result.stderr.contains("RIVVEN_MQTT_TEST_UNSET_URL"))
    }

    @Test func usageErrorsExit2() async throws {
        let noConfig = try await product(["run"])
        #expect(noConfig.status == 2)
        #expect(noConfig.stderr.contains("--config"))
        let unknown = try await product(["frobnicate"])
        #expect(unknown.status == 2)
        let help = try await product(["run", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--log-format"))
        #expect(help.stdout.contains("--output"))
    }

    @Test func discoverPrintsTheCatalog() async throws {
        let gateway = try Gateway(
            yaml: Gateway.connectorYAML(url: "mqtt://localhost", topics: ["sensors/+/temperature", "plant/#"])
        )
        let result = try await gateway.command(["discover", "--config", gateway.configPath])
        #expect(result.status == 0, "\(result.stderr)")
        let catalog = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let streams = try #require(catalog["streams"] as? [[String: Any]])
        #expect(streams.compactMap { $0["name"] as? String } == ["sensors__single_temperature", "plant__multi"])
        #expect(streams[0]["supported_sync_modes"] as? [String] == ["full_refresh", "incremental"])
        #expect(streams[0]["namespace"] is NSNull)
        let schema = try #require(streams[0]["json_schema"] as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        #expect(Set(properties.keys) == ["topic", "payload", "qos", "retain", "timestamp"])
    }

    @Test func rivvenConnectFileRunsEveryMQTTSource() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: """
                    version: "1.0"
                    sources:
                      plant-a:
                        connector: mqtt-source
                        topic: plant-a-events
                        config:
                          broker_url: \(broker.url)
                          topics: ["plant-a/#"]
                          qos: 1
                      plant-b:
                        connector: mqtt
                        topic: plant-b-events
                        config:
                          broker_url: \(broker.url)
                          topics: ["plant-b/#"]
                          qos: 1
                      database:
                        connector: postgres-cdc
                        topic: db-events
                        config: {}
                    """
            )
            try gateway.process.start(
                arguments: ["run", "--config", gateway.configPath],
                currentDirectory: gateway.directory.path
            )
            let both = await Eventually.wait(timeout: .seconds(30)) {
                gateway.process.stderrText.components(separatedBy: "MQTT subscribed").count - 1 >= 2
            }
            #expect(both, "\(gateway.process.stderrText)")
            #expect(gateway.process.stderrText.contains("skipping a source that is not an MQTT source"))
            try await MQTTTool.publish(to: broker.endpoint(), topic: "plant-a/1", message: "a", qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "plant-b/1", message: "b", qos: 1)
            // Each source has its own log: log.dir/NAME.
            func payloads(_ source: String) async throws -> [String] {
                let result = try await gateway.command([
                    "log", "cat", "--config", gateway.configPath, "--source", source,
                ])
                return result.stdout.split(separator: "\n").compactMap { line in
                    guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let value = record["value"] as? String,
                        let envelope = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any]
                    else { return nil }
                    return envelope[path: "data", "payload"] as? String
                }
            }
            #expect(await Eventually.wait { (try? await payloads("plant-a")) == ["a"] })
            #expect(await Eventually.wait { (try? await payloads("plant-b")) == ["b"] })
            let ambiguous = try await gateway.command(["log", "cat", "--config", gateway.configPath])
            #expect(ambiguous.status == 2)
            #expect(ambiguous.stderr.contains("add --source"))
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func versionNamesTheLibraries() async throws {
        let result = try await product(["version"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("rivven-mqtt ") == true)
        #expect(lines.contains("libmosquitto 2.0.11"))
        #expect(lines.contains { $0.hasPrefix("liburing 2.") })
        #expect(lines.contains { $0.hasPrefix("io_uring: ") })
        #expect(lines.contains { $0.hasPrefix("crc32c: ") })
    }
}
