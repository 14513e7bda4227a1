import Foundation
import Glibc
import Testing

/// What ships beside the binary: the example configurations, the systemd unit, and the `--help` texts.
@Suite("packaging", .timeLimit(.minutes(3)))
struct PackagingTests {
    /// The package root (this file is Tests/RivvenMQTTTests/PackagingTests.swift).
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    private static func product(
        _ arguments: [String],
        environment: [String: String]? = nil,
        in directory: String? = nil
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await BinaryProcess(executable: try BinaryProcess.productBinaryPath())
            .run(arguments: arguments, environment: environment, currentDirectory: directory)
    }

    /// `KEY=value` lines of the `[Service]` section of the unit (the last one wins, as in systemd; comments skipped).
    private static func serviceSettings(_ unit: String) -> [String: String] {
        var settings: [String: String] = [:]
        var section = ""
        for line in unit.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") {
                section = line
            } else if section == "[Service]", !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") {
                settings[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        return settings
    }

    // MARK: Examples

    @Test func everyExampleConfigurationLoads() async throws {
        let directory = try TemporaryDirectory(prefix: "examples")
        defer { directory.cleanup() }
        // The CA files the examples name through variables must exist (the loader checks that they are readable).
        let ca = directory.file("ca.pem")
        try "not parsed when loading\n".write(toFile: ca, atomically: true, encoding: .utf8)
        let environment = [
            "RIVVEN_PASSWORD": "rivven-secret", "MQTT_PASSWORD": "mqtt-secret", "NODE_ID": "node-7",
            "RIVVEN_CA": ca, "MQTT_CA": ca,
        ]
        let files = try FileManager.default.contentsOfDirectory(
            atPath: Self.root.appendingPathComponent("examples").path
        )
        .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        #expect(
            Set(files).isSuperset(of: ["edge-gateway.yaml", "fleet-tier.yaml", "local.yaml", "rivven-connect.yaml"])
        )
        for file in files {
            let path = Self.root.appendingPathComponent("examples/\(file)").path
            let result = try await Self.product(["discover", "--config", path], environment: environment)
            #expect(result.status == 0, "\(file): \(result.stderr)")
            let catalog = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect((catalog?["streams"] as? [Any])?.isEmpty == false, "\(file): \(result.stdout)")
            #expect(!result.stdout.contains("secret") && !result.stderr.contains("secret"))
        }
        // The fleet tier needs a name per process: without NODE_ID it is a config error that says so.
        var withoutNode = environment
        withoutNode["NODE_ID"] = nil
        withoutNode["PATH"] = "/usr/bin:/bin"
        let fleet = Self.root.appendingPathComponent("examples/fleet-tier.yaml").path
        let missing = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
        try missing.start(
            arguments: ["discover", "--config", fleet],
            environment: withoutNode,
            inheritEnvironment: false
        )
        #expect(await missing.waitForExit(timeout: .seconds(60)) == 2)
        #expect(missing.stderrText.contains("NODE_ID"), "\(missing.stderrText)")
    }

    // MARK: systemd

    @Test func unitKeepsTheLogInItsStateDirectory() throws {
        let settings = Self.serviceSettings(try Self.text("packaging/rivven-mqtt.service"))
        let state = try #require(settings["StateDirectory"])
        #expect(settings["WorkingDirectory"] == "/var/lib/\(state)")
        #expect(settings["LimitNOFILE"] == "65536")
        #expect(settings["KillSignal"] == "SIGTERM")
        #expect(settings["Restart"] == "on-failure")
        #expect(settings["RestartPreventExitStatus"] == "2", "a bad config must not restart in a loop")
        for example in ["examples/edge-gateway.yaml", "examples/fleet-tier.yaml"] {
            #expect(try Self.text(example).contains("dir: /var/lib/\(state)/"), "\(example): log.dir")
        }
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"),
            "systemd-analyze is not installed"
        )
    )
    func unitVerifiesWithSystemd() async throws {
        let directory = try TemporaryDirectory(prefix: "unit")
        defer { directory.cleanup() }
        // The unit as installed, except that ExecStart names the binary under test (verify checks that it exists).
        let unit = try Self.text("packaging/rivven-mqtt.service")
            .replacingOccurrences(of: "/usr/local/bin/rivven-mqtt", with: try BinaryProcess.productBinaryPath())
        let path = directory.file("rivven-mqtt.service")
        try unit.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await BinaryProcess(executable: "/usr/bin/systemd-analyze").run(arguments: ["verify", path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for complaint in ["Unknown", "Invalid", "Failed", "not executable", "ignoring"] {
            #expect(!result.stderr.contains(complaint), "\(result.stderr)")
        }
    }

    /// ExecStart's command line as systemd runs it (in WorkingDirectory, stopped with KillSignal).
    @Test func unitCommandLineRunsAndStopsCleanly() async throws {
        let settings = Self.serviceSettings(try Self.text("packaging/rivven-mqtt.service"))
        var arguments = try #require(settings["ExecStart"]).split(separator: " ").map(String.init)
        #expect(arguments.first == "/usr/local/bin/rivven-mqtt")
        arguments.removeFirst()
        let configIndex = try #require(arguments.firstIndex(of: "--config"))
        #expect(arguments[configIndex + 1] == "/etc/rivven-mqtt/config.yaml")
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["unit/#"], extra: ["qos: 1"])
                    + "metrics:\n  listen: off\n"
            )
            arguments[configIndex + 1] = gateway.configPath
            try gateway.process.start(arguments: arguments, currentDirectory: gateway.directory.path)
            #expect(await gateway.process.waitForStderr(containing: "MQTT subscribed"), "\(gateway.process.stderrText)")
            try await MQTTTool.publish(to: broker.endpoint(), topic: "unit/1", message: "1", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            let killSignal = try #require(settings["KillSignal"])
            gateway.process.signal(killSignal == "SIGTERM" ? SIGTERM : SIGINT)
            #expect(await gateway.process.waitForExit(timeout: .seconds(60)) == 0)
            // --log-format json: what journald passes on is one JSON object per line.
            for line in gateway.process.stderrLines where !line.isEmpty {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "\(line)")
            }
        }
    }

    // MARK: --help

    @Test(arguments: [["run"], ["check"], ["discover"], ["log", "cat"], ["log", "stat"], ["version"]])
    func helpShowsTheDefaultOfEveryOption(command: [String]) async throws {
        let help = try await Self.product(command + ["--help"])
        #expect(help.status == 0)
        let text = help.stdout.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(
            of: " +",
            with: " ",
            options: .regularExpression
        )
        #expect(text.contains("default: info"), "--log-level: \(help.stdout)")
        #expect(text.contains("default: text"), "--log-format: \(help.stdout)")
        if command.first == "log" {
            #expect(text.contains("(default: log.dir of --config, else ./data)"), "--dir: \(help.stdout)")
        }
        if command == ["log", "cat"] {
            #expect(text.contains("(default: 0)"), "--from: \(help.stdout)")
        }
    }

    /// `run --help` and `check --help` list the configuration defaults (SPEC §3), read from the loader.
    @Test(arguments: ["run", "check"])
    func helpListsTheConfigurationDefaults(command: String) async throws {
        let help = try await Self.product([command, "--help"])
        #expect(help.status == 0)
        let text = help.stdout.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(
            of: " +",
            with: " ",
            options: .regularExpression
        )
        for expected in [
            "qos at_most_once", "clean_session true", "keep_alive_secs 60", "connect_timeout_secs 30",
            "mqtt_version v311", "max_inflight 100", "connections 1", "retry_initial_ms 100", "retry_max_ms 10000",
            "retry_multiplier 2.0", "max_payload_bytes 1MiB", "format envelope", "key none",
            "max_messages 1000", "max_bytes 1MiB", "linger_ms 5", "capacity_messages 65536", "capacity_bytes 64MiB",
            "when_full block", "dir ./data", "max_bytes 1GiB", "segment_bytes 64MiB", "fsync batch",
            "listen 127.0.0.1:9464", "prefix rivven", "create_topic true", "partitions 1", "idempotent true",
        ] {
            #expect(text.contains(expected), "\(command) --help lacks \(expected):\n\(help.stdout)")
        }
    }
}
