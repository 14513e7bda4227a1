import FastIngest
import Foundation
import Testing

/// The real Rivven client (PyPI `rivven` 0.0.22, a CPython 3.12 wheel embedding the Rust client) against the in-tree
/// test server: proof that the server the integration tests rely on speaks the real protocol. `.ci/run` installs the
/// wheel into a venv and sets `RIVVEN_PYTHON`; where CPython 3.12 or the wheel is missing the test is skipped.
@Suite("real Rivven client", .timeLimit(.minutes(2)))
struct RivvenClientFaithfulnessTests {
    static let python: String? = {
        guard let path = ProcessInfo.processInfo.environment["RIVVEN_PYTHON"],
            FileManager.default.isExecutableFile(atPath: path)
        else { return nil }
        return path
    }()

    @Test(.enabled(if: python != nil, "set RIVVEN_PYTHON to a python with `rivven==0.0.22` (CPython 3.12)"))
    func realClientTalksToTheTestServer() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        // Tests/RivvenMQTTTests/<this file> → the repository root → scripts/.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/rivven_client_check.py").path
        let result = try await BinaryProcess(executable: Self.python!)
            .run(arguments: [script, "127.0.0.1:\(port)"], timeout: .seconds(60))
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result.stdout)\(result.stderr)"
        )
        #expect((object["topics"] as? [String])?.contains("faithful") == true)
        #expect(object["values"] as? [String] == (0..<5).map { "value-\($0)" })
        #expect(object["keys"] as? [String] == Array(repeating: "same-key", count: 5))
        #expect(object["producer"] as? String == "ok")
        let partition = try #require(object["partition"] as? Int)
        #expect(server.records(topic: "faithful", partition: UInt32(partition)).count == 5)
        #expect(server.allRecords(topic: "batched").count == 3)
    }
}
