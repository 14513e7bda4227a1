import Foundation
import Glibc
import Testing

/// The binary of `scripts/build-static.sh` (`swift build -c release --static-swift-stdlib`) as it is deployed: copied
/// alone into an empty directory and run there with an environment that points nowhere near the Swift toolchain.
///
/// Runs only when `RIVVEN_MQTT_STATIC_BINARY` names that binary (the static build takes minutes, so `swift test`
/// does not make it itself).
@Suite("static build", .timeLimit(.minutes(3)))
struct StaticBuildTests {
    static let binary: String? = {
        guard let path = ProcessInfo.processInfo.environment["RIVVEN_MQTT_STATIC_BINARY"], !path.isEmpty else {
            return nil
        }
        return path
    }()

    /// The environment of the copied binary: the system's PATH only, no LD_LIBRARY_PATH.
    private static let bareEnvironment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]

    /// Copies the binary into a fresh directory and returns the directory and the copy's path.
    private static func deployedCopy() throws -> (TemporaryDirectory, String) {
        let source = try #require(binary)
        let directory = try TemporaryDirectory(prefix: "static-build")
        let copy = directory.file("rivven-mqtt")
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        return (directory, copy)
    }

    /// Runs the copy to completion in `directory` with the bare environment.
    private static func run(_ copy: String, _ arguments: [String], in directory: TemporaryDirectory) async throws -> (
        status: Int32?, stdout: String, stderr: String
    ) {
        let process = BinaryProcess(executable: copy)
        try process.start(
            arguments: arguments,
            environment: bareEnvironment,
            inheritEnvironment: false,
            currentDirectory: directory.path
        )
        let status = await process.waitForExit(timeout: .seconds(60))
        if status == nil { process.signal(SIGKILL) }
        return (status, process.stdoutText, process.stderrText)
    }

    @Test(.enabled(if: binary != nil, "set RIVVEN_MQTT_STATIC_BINARY to the path scripts/build-static.sh prints"))
    func needsNoSwiftRuntimeLibraries() async throws {
        let (directory, copy) = try Self.deployedCopy()
        defer { directory.cleanup() }
        let ldd = try await BinaryProcess.runChecked("/usr/bin/ldd", [copy])
        for forbidden in ["libswift", "libFoundation", "lib_FoundationICU", "libdispatch", "libBlocksRuntime"] {
            #expect(!ldd.stdout.contains(forbidden), "\(forbidden) is linked dynamically:\n\(ldd.stdout)")
        }
        #expect(!ldd.stdout.contains("not found"), "\(ldd.stdout)")
        #expect(ldd.stdout.contains("libmosquitto.so.1") && ldd.stdout.contains("liburing.so.2"), "\(ldd.stdout)")
    }

    @Test(.enabled(if: binary != nil, "set RIVVEN_MQTT_STATIC_BINARY to the path scripts/build-static.sh prints"))
    func runsFromACopyInAnEmptyDirectory() async throws {
        let (directory, copy) = try Self.deployedCopy()
        defer { directory.cleanup() }

        let version = try await Self.run(copy, ["version"], in: directory)
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdout.hasPrefix("rivven-mqtt "), "\(version.stdout)")
        #expect(version.stdout.contains("libmosquitto 2."), "\(version.stdout)")

        try await MosquittoBroker.with { broker in
            try Gateway.connectorYAML(url: broker.url, topics: ["static/#"], extra: ["qos: 1"])
                .appending("metrics:\n  listen: off\n")
                .write(toFile: directory.file("config.yaml"), atomically: true, encoding: .utf8)
            let gateway = BinaryProcess(executable: copy)
            try gateway.start(
                arguments: ["run", "--config", "config.yaml", "--log-format", "json"],
                environment: Self.bareEnvironment,
                inheritEnvironment: false,
                currentDirectory: directory.path
            )
            let subscribed = await gateway.waitForStderr(containing: "MQTT subscribed", timeout: .seconds(30))
            try #require(subscribed, "\(gateway.stderrText)")
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "static/t",
                messages: (1...50).map(String.init),
                qos: 1
            )
            let cat = { try await Self.run(copy, ["log", "cat", "--dir", "data"], in: directory) }
            let written = await Eventually.wait(timeout: .seconds(30), interval: .milliseconds(100)) {
                ((try? await cat())?.stdout.split(separator: "\n").count ?? 0) >= 50
            }
            #expect(written)
            gateway.signal(SIGTERM)
            #expect(await gateway.waitForExit(timeout: .seconds(30)) == 0, "\(gateway.stderrText)")
            let lines = try await cat().stdout.split(separator: "\n")
            #expect(lines.count == 50)
            #expect(lines.last?.contains(#"\"payload\":50"#) == true, "\(lines.last ?? "")")
        }
        // Nothing beside the binary, the config and the log directory.
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(entries == ["config.yaml", "data", "rivven-mqtt"])
    }
}
