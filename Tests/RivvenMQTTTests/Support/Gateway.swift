import Foundation
import Testing

/// The product binary as a user runs it: a config file in a temporary directory and `rivven-mqtt run`.
final class Gateway: @unchecked Sendable {
    // @unchecked: immutable after init except `process`, whose own state is thread-safe.
    let directory: TemporaryDirectory
    let configPath: String
    let process: BinaryProcess

    /// Writes `yaml` to `config.yaml` in a fresh directory (the working directory of every command).
    init(yaml: String) throws {
        directory = try TemporaryDirectory(prefix: "gateway")
        configPath = directory.path + "/config.yaml"
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
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

    /// The records written so far, parsed.
    var records: [[String: Any]] {
        process.stdoutLines.compactMap { line in
            guard let data = line.data(using: .utf8) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        }
    }

    /// Waits until at least `count` records arrived and returns them.
    func waitForRecords(_ count: Int, timeout: Duration = .seconds(30)) async -> [[String: Any]] {
        _ = await process.waitForStdoutLines(count: count, timeout: timeout)
        return records
    }

    /// SIGTERM and the exit status.
    func stop() async -> Int32? {
        process.signal(SIGTERM)
        return await process.waitForExit(timeout: .seconds(30))
    }

    deinit {
        if process.isRunning { process.signal(SIGKILL) }
        directory.cleanup()
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
