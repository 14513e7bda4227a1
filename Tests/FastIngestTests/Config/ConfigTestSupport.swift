import FastIngest
import Foundation
import Testing

/// The parent of every configuration suite, so `swift test --filter Config` selects them all.
@Suite enum ConfigTests {}

/// Helpers shared by the configuration tests.
enum ConfigFixture {
    static let hostName = "edge-gw-01"

    /// A minimal valid connector file, with `config` lines and top-level lines added.
    static func connector(config: [String] = [], top: [String] = []) -> String {
        ([
            "type: mqtt-source",
            "topic: iot-events",
            "config:",
            "  broker_url: mqtt://broker.local:1883",
            "  topics: [\"sensors/#\"]",
        ] + config.map { "  " + $0 } + top)
        .joined(separator: "\n") + "\n"
    }

    /// Parses `yaml`, recording an issue (with every problem) when it fails.
    static func parse(
        _ yaml: String,
        environment: [String: String] = [:],
        hostName: String = hostName,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> IngestConfiguration? {
        do {
            return try IngestConfiguration.parse(yaml: yaml, environment: environment, hostName: hostName)
        } catch {
            Issue.record("unexpected configuration error:\n\(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// The problems of `yaml`, recording an issue when it parses cleanly.
    static func problems(
        _ yaml: String,
        environment: [String: String] = [:],
        hostName: String = hostName,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [ConfigurationError.Problem] {
        do {
            let configuration = try IngestConfiguration.parse(yaml: yaml, environment: environment, hostName: hostName)
            Issue.record("expected a configuration error, got \(configuration)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    /// The problems as `path: message` lines, for readable expectations.
    static func lines(
        _ yaml: String,
        environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [String] {
        problems(yaml, environment: environment, sourceLocation: sourceLocation).map(\.description)
    }
}

/// A temporary directory removed when the value is deinitialized.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/rivven-mqtt-config-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Writes raw bytes to `name` inside the directory and returns its path.
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}
