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

    /// What rivven-mqtt forwarded, read back by the real client: every record of the local log, byte for byte, with
    /// its key, in order per partition.
    @Test(.enabled(if: python != nil, "set RIVVEN_PYTHON to a python with `rivven==0.0.22` (CPython 3.12)"))
    func realClientConsumesWhatTheGatewayForwarded() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: ForwardTests.yaml(
                    mqtt: broker.url,
                    rivven: port,
                    config: ["format: raw", "key: topic"],
                    top: ["  partitions: 2"]
                )
            )
            try await gateway.start()
            for device in 0..<4 {
                try await MQTTTool.publishMany(
                    to: broker.endpoint(),
                    topic: "seq/dev\(device)",
                    messages: (1...50).map { "dev\(device) reading \($0) \u{00e9}\u{4e2d}" },
                    qos: 1
                )
            }
            try await MQTTTool.publish(to: broker.endpoint(), topic: "seq/bin", payload: [0, 0xFF, 0xC3, 0x28], qos: 1)
            _ = await ForwardTests.waitForStored(server, count: 201)
            #expect(await gateway.stop() == 0)
            let logged = try await gateway.logCat()
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/rivven_client_check.py").path
            let result = try await BinaryProcess(executable: Self.python!)
                .run(arguments: [script, "127.0.0.1:\(port)", "consume", "iot-events", "2"], timeout: .seconds(60))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let partitions = try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [[Any]]],
                "\(result.stdout)\(result.stderr)"
            )
            var consumed: [(key: [UInt8], value: [UInt8])] = []
            for (_, records) in partitions {
                for record in records {
                    let key = (record[1] as? String).flatMap { Data(base64Encoded: $0) }
                    let value = (record[2] as? String).flatMap { Data(base64Encoded: $0) }
                    #expect(key != nil && value != nil, "\(record)")
                    consumed.append((Array(key ?? Data()), Array(value ?? Data())))
                }
            }
            #expect(consumed.count == 201)
            // Per key, the consumed values are the logged values in log order, byte for byte.
            for topic in Set(logged.compactMap { $0["topic"] as? String }) {
                let expected = logged.filter { $0["topic"] as? String == topic }.map { line -> [UInt8] in
                    if let text = line["value"] as? String { return Array(text.utf8) }
                    return Array(Data(base64Encoded: line["value_b64"] as? String ?? "") ?? Data())
                }
                let got = consumed.filter { $0.key == Array(topic.utf8) }.map(\.value)
                #expect(got == expected, "topic \(topic)")
            }
        }
    }
}
