import FastIngest
import Foundation
import Testing

/// `check` against the in-tree Rivven test server with a TLS listener (`broker.tls.*`): the product binary, real
/// OpenSSL on both sides, certificates from the `openssl` tool.
@Suite("check rivven over TLS", .timeLimit(.minutes(3)))
struct CheckRivvenTLSTests {
    private func yaml(mqtt: String, rivven port: UInt16, tls: [String], extra: [String] = []) -> String {
        Gateway.connectorYAML(url: mqtt, topics: ["a/#"])
            + "broker:\n  bootstrap_servers: [\"127.0.0.1:\(port)\"]\n  tls:\n"
            + tls.map { "    \($0)\n" }.joined() + extra.map { "  \($0)\n" }.joined()
    }

    @Test func verifiedTLSAndUntrustedServer() async throws {
        let certificates = try TemporaryDirectory(prefix: "rivven-tls")
        defer { certificates.cleanup() }
        let material = try await TLSMaterial.generate(in: certificates.path)
        let server = RivvenTestServer(
            configuration: .init(tls: .init(certificatePath: material.serverCertificate, keyPath: material.serverKey))
        )
        let port = try server.start()
        defer { server.stop() }
        try await MosquittoBroker.with { broker in
            let trusting = try Gateway(
                yaml: yaml(
                    mqtt: broker.url,
                    rivven: port,
                    tls: ["enabled: true", "ca_path: \(material.caCertificate)"]
                )
            )
            var result = try await trusting.command(["check", "--config", trusting.configPath])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("ok     rivven 127.0.0.1:\(port): handshake accepted (protocol 2)"))
            #expect(result.stdout.contains("ok     rivven topic iot-events: does not exist yet; created at start"))
            #expect(server.statistics.tlsHandshakes == 1)

            // The system CAs do not know the test CA.
            let untrusting = try Gateway(yaml: yaml(mqtt: broker.url, rivven: port, tls: ["enabled: true"]))
            result = try await untrusting.command(["check", "--config", untrusting.configPath])
            #expect(result.status == 1)
            #expect(
                result.stdout.contains(
                    "FAILED rivven 127.0.0.1:\(port): 127.0.0.1:\(port): TLS handshake failed: certificate verify failed ("
                ),
                "\(result.stdout)"
            )
            #expect(server.statistics.requests("Handshake") == 1)
        }
    }

    @Test func mutualTLSWithSCRAMLogin() async throws {
        let certificates = try TemporaryDirectory(prefix: "rivven-tls")
        defer { certificates.cleanup() }
        let material = try await TLSMaterial.generate(in: certificates.path)
        let server = RivvenTestServer(
            configuration: .init(
                requireAuth: true,
                users: [.init(name: "gw", password: "s3cret")],
                tls: .init(
                    certificatePath: material.serverCertificate,
                    keyPath: material.serverKey,
                    clientCAPath: material.caCertificate
                )
            )
        )
        let port = try server.start()
        defer { server.stop() }
        let auth = ["auth:", "  username: gw", "  password: s3cret"]
        try await MosquittoBroker.with { broker in
            let withCertificate = try Gateway(
                yaml: yaml(
                    mqtt: broker.url,
                    rivven: port,
                    tls: [
                        "enabled: true", "ca_path: \(material.caCertificate)",
                        "cert_path: \(material.clientCertificate)", "key_path: \(material.clientKey)",
                    ],
                    extra: auth
                )
            )
            var result = try await withCertificate.command(["check", "--config", withCertificate.configPath])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(
                result.stdout.contains(
                    "ok     rivven 127.0.0.1:\(port): handshake accepted (protocol 2), logged in as gw (SCRAM-SHA-256)"
                ),
                "\(result.stdout)"
            )

            let without = try Gateway(
                yaml: yaml(
                    mqtt: broker.url,
                    rivven: port,
                    tls: ["enabled: true", "ca_path: \(material.caCertificate)"],
                    extra: auth
                )
            )
            result = try await without.command(["check", "--config", without.configPath])
            #expect(result.status == 1)
            #expect(result.stdout.contains("FAILED rivven 127.0.0.1:\(port): "), "\(result.stdout)")
            #expect(result.stdout.contains("alert certificate required"), "\(result.stdout)")
            #expect(!result.stdout.contains("s3cret") && !result.stderr.contains("s3cret"))
        }
    }
}
