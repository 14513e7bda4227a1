import Foundation
import Testing

/// The product binary as a user runs it: a config file in a temporary directory and `rivven-mqtt run`.
final class Gateway: @unchecked Sendable {
    // @unchecked: immutable after init except `process`, whose own state is thread-safe.
    let directory: TemporaryDirectory
    let configPath: String
    let process: BinaryProcess

    /// Writes `yaml` to `config.yaml` in a fresh directory (the working directory of every command). Without a
    /// `metrics:` section the endpoint listens on a port the kernel picks (``metricsPort``), never on the shared
    /// default 9464, so gateways of parallel tests do not collide.
    init(yaml: String) throws {
        directory = try TemporaryDirectory(prefix: "gateway")
        configPath = directory.path + "/config.yaml"
        var text = yaml
        if !text.split(separator: "\n").contains(where: { $0.hasPrefix("metrics:") }) {
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += "metrics:\n  listen: \"127.0.0.1:0\"\n"
        }
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
    }

    /// Another run in the same directory (same config, same log), as a supervisor restarts a process.
    init(reusing directory: TemporaryDirectory) {
        self.directory = directory
        configPath = directory.path + "/config.yaml"
        process = BinaryProcess(executable: (try? BinaryProcess.productBinaryPath()) ?? "rivven-mqtt")
    }

    /// A connector-file config for `url` with the given `config:` lines (indented by the helper).
    static func connectorYAML(url: String, topics: [String], extra: [String] = []) -> String {
        var lines = ["type: mqtt-source", "topic: iot-events", "config:", "  broker_url: \"\(url)\"", "  topics:"]
        lines += topics.map { "    - \"\($0)\"" }
        lines += extra.map { "  " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Starts `run` and waits until the gateway reports its subscription (or exits, which fails the test).
    func start(extraArguments: [String] = [], waitForSubscription: Bool = true) async throws {
        try process.start(
            arguments: ["run", "--config", configPath] + extraArguments,
            currentDirectory: directory.path
        )
        if waitForSubscription {
            let subscribed = await process.waitForStderr(containing: "MQTT subscribed", timeout: .seconds(30))
            try #require(subscribed, "gateway did not subscribe; stderr:\n\(process.stderrText)")
        }
    }

    /// Runs another subcommand (`check`, `discover`, …) against the same config to completion.
    func command(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let other = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
        return try await other.run(arguments: arguments, currentDirectory: directory.path, timeout: timeout)
    }

    /// Whether records go to stdout (`--output -`) instead of the local log.
    private var writesToStdout: Bool { process.commandLine.contains("--output -") }

    /// The log directory (`log.dir` defaults to ./data in the working directory).
    var logDirectory: String { directory.path + "/data" }

    /// `log cat` of the gateway's log: one JSON object per record.
    func logCat(from offset: UInt64 = 0) async throws -> [[String: Any]] {
        let result = try await command(["log", "cat", "--dir", logDirectory, "--from", "\(offset)"])
        guard result.status == 0 else { throw HarnessError("log cat failed (\(result.status)): \(result.stderr)") }
        return result.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// The record values (envelope JSON text) written so far.
    func valueLines() async -> [String] {
        if writesToStdout { return process.stdoutLines }
        return ((try? await logCat()) ?? []).compactMap { $0["value"] as? String }
    }

    /// The records written so far, parsed (the envelope objects).
    func records() async -> [[String: Any]] {
        await valueLines().compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// Waits until at least `count` records are written and returns them.
    func waitForRecords(_ count: Int, timeout: Duration = .seconds(30)) async -> [[String: Any]] {
        var latest: [[String: Any]] = []
        _ = await Eventually.wait(timeout: timeout, interval: .milliseconds(50)) {
            latest = await records()
            return latest.count >= count
        }
        return latest
    }

    /// The port of the metrics endpoint, from the log line that names it (text: `metrics.listen=HOST:PORT`, JSON:
    /// `"metrics.listen":"HOST:PORT"`); `nil` before it was logged or with `metrics.listen: off`.
    var metricsPort: Int? {
        guard let line = process.stderrLines.first(where: { $0.contains("metrics endpoint listening") }),
            let range = line.range(of: "metrics.listen=") ?? line.range(of: #""metrics.listen":""#)
        else { return nil }
        let address = line[range.upperBound...].prefix { $0 != " " && $0 != "\"" }
        return address.split(separator: ":").last.flatMap { Int($0) }
    }

    /// `GET path` on the metrics endpoint.
    func http(_ path: String, method: String = "GET") async throws -> HTTPClient.Response {
        guard let port = metricsPort else {
            throw HarnessError("the gateway logged no metrics endpoint; stderr:\n\(process.stderrText)")
        }
        return try await HTTPClient.request(method, port: port, path: path)
    }

    /// SIGTERM and the exit status.
    func stop() async -> Int32? {
        process.signal(SIGTERM)
        return await process.waitForExit(timeout: .seconds(30))
    }

    deinit {
        // The directory removes itself when its last user (gateway or test) lets go of it.
        if process.isRunning { process.signal(SIGKILL) }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `record["data"]["topic"]` style access for tests.
    subscript(path path: String...) -> Any? {
        var current: Any? = self
        for key in path {
            current = (current as? [String: Any])?[key]
        }
        return current
    }
}
