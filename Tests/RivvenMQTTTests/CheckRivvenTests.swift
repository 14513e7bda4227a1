import FastIngest
import Foundation
import Testing

/// `check` against the in-tree Rivven test server: Handshake, SCRAM-SHA-256 login, topic exists or may be created.
@Suite("check rivven", .timeLimit(.minutes(3)))
struct CheckRivvenTests {
    private func yaml(mqtt: String, rivven port: UInt16, extra: [String] = []) -> String {
        Gateway.connectorYAML(url: mqtt, topics: ["a/#"])
            + "broker:\n  bootstrap_servers: [\"127.0.0.1:\(port)\"]\n" + extra.map { "  \($0)\n" }.joined()
    }

    @Test func handshakeAndTopicChecks() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let missing = try Gateway(yaml: yaml(mqtt: broker.url, rivven: port))
            var result = try await missing.command(["check", "--config", missing.configPath])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("ok     rivven 127.0.0.1:\(port): handshake accepted (protocol 2)"))
            #expect(result.stdout.contains("ok     rivven topic iot-events: does not exist yet; created at start"))

            let strict = try Gateway(yaml: yaml(mqtt: broker.url, rivven: port, extra: ["create_topic: false"]))
            result = try await strict.command(["check", "--config", strict.configPath])
            #expect(result.status == 1)
            #expect(
                result.stdout.contains(
                    "FAILED rivven topic iot-events: does not exist and broker.create_topic is false"
                )
            )

            let client = try RivvenClient(server: "127.0.0.1:\(port)")
            _ = try client.send(.createTopic(name: "iot-events", partitions: 2))
            result = try await strict.command(["check", "--config", strict.configPath])
            #expect(result.status == 0, "\(result.stdout)")
            #expect(result.stdout.contains("ok     rivven topic iot-events: exists with 2 partition(s)"))
            #expect(server.statistics.requests("Handshake") >= 3)
        }
    }

    @Test func scramLoginGoodAndBad() async throws {
        let server = RivvenTestServer(
            configuration: .init(requireAuth: true, users: [.init(name: "gw", password: "s3cret")])
        )
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let good = try Gateway(
                yaml: yaml(mqtt: broker.url, rivven: port, extra: ["auth:", "  username: gw", "  password: s3cret"])
            )
            var result = try await good.command(["check", "--config", good.configPath, "--json"])
            #expect(result.status == 0, "\(result.stdout)")
            #expect(result.stdout.contains("logged in as gw (SCRAM-SHA-256)"))
            #expect(!result.stdout.contains("s3cret"))

            let bad = try Gateway(
                yaml: yaml(mqtt: broker.url, rivven: port, extra: ["auth:", "  username: gw", "  password: wrong"])
            )
            result = try await bad.command(["check", "--config", bad.configPath])
            #expect(result.status == 1)
            #expect(result.stdout.contains("FAILED rivven 127.0.0.1:\(port): "), "\(result.stdout)")
            #expect(result.stdout.contains("authentication"), "\(result.stdout)")
            #expect(!result.stdout.contains("wrong"))
        }
    }

    @Test func unreachableRivvenFailsWithTheOSError() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: yaml(mqtt: broker.url, rivven: UInt16(FreePort.allocate())))
            let result = try await gateway.command(["check", "--config", gateway.configPath])
            #expect(result.status == 1)
            #expect(result.stdout.contains("Connection refused"), "\(result.stdout)")
        }
    }
}
