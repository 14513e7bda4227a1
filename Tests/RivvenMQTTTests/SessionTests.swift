import Foundation
import Glibc
import Testing

/// Connection-level behaviour against a real mosquitto: credentials, TLS, the will, sessions, reconnects, signals.
@Suite("session", .timeLimit(.minutes(5)))
struct SessionTests {
    static let secret = "s3cr3t-Pa55"

    @Test func goodCredentialsDeliverAndBadOnesAreReportedInWords() async throws {
        let options = MosquittoBroker.Options(allowAnonymous: false, users: [("gw", Self.secret)])
        try await MosquittoBroker.with(options) { broker in
            let good = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["auth/#"],
                    extra: ["qos: 1", "auth:", "  username: gw", "  password: ${GW_PASSWORD}"]
                )
            )
            try good.process.start(
                arguments: ["run", "--config", good.configPath],
                environment: ["GW_PASSWORD": Self.secret],
                currentDirectory: good.directory.path
            )
            #expect(await good.process.waitForStderr(containing: "MQTT subscribed"))
            try await MQTTTool.publish(
                to: broker.endpoint(username: "gw", password: Self.secret),
                topic: "auth/ok",
                message: "in",
                qos: 1
            )
            #expect(await good.waitForRecords(1).count == 1)
            #expect(await good.stop() == 0)
            #expect(!good.process.stderrText.contains(Self.secret))

            let bad = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["auth/#"],
                    extra: ["auth:", "  username: gw", "  password: wrong-\(Self.secret)", "max_reconnect_attempts: 2"]
                )
            )
            try await bad.start(waitForSubscription: false)
            #expect(await bad.process.waitForExit() == 1)
            let stderr = bad.process.stderrText
            #expect(
                stderr.lowercased().contains("not authori") || stderr.contains("bad user name or password"),
                "\(stderr)"
            )
            #expect(stderr.contains("gave up after 2 failed connection attempts"))
            #expect(!stderr.contains(Self.secret))

            let check = try await bad.command(["check", "--config", bad.configPath, "--json"])
            #expect(check.status == 1)
            #expect(check.stdout.contains(#""ok": false"#))
            #expect(check.stdout.contains("refused the connection"))
            #expect(!check.stdout.contains(Self.secret) && !check.stderr.contains(Self.secret))
        }
    }

    @Test func tlsWithCustomCAAndMutualTLS() async throws {
        let certificates = try TemporaryDirectory(prefix: "tls")
        defer { certificates.cleanup() }
        let tls = try await TLSMaterial.generate(in: certificates.path)
        try await MosquittoBroker.with(MosquittoBroker.Options(tls: tls)) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: "mqtts://localhost:\(broker.tlsPort!)",
                    topics: ["secure/#"],
                    extra: ["qos: 1", "tls:", "  ca_cert: \(tls.caCertificate)"]
                )
            )
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "secure/a", message: "over tls", qos: 1)
            #expect(await gateway.waitForRecords(1).first?[path: "data", "payload"] as? String == "over tls")
            #expect(await gateway.stop() == 0)
        }
        try await MosquittoBroker.with(MosquittoBroker.Options(tls: tls, requireCertificate: true)) { broker in
            let withCertificate = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: "ssl://localhost:\(broker.tlsPort!)",
                    topics: ["mtls/#"],
                    extra: [
                        "qos: 1", "tls:", "  ca_cert: \(tls.caCertificate)", "  client_cert: \(tls.clientCertificate)",
                        "  client_key: \(tls.clientKey)",
                    ]
                )
            )
            let passed = try await withCertificate.command(["check", "--config", withCertificate.configPath])
            #expect(passed.status == 0, "\(passed.stdout)\(passed.stderr)")
            try await withCertificate.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "mtls/a", message: "mutual", qos: 1)
            #expect(await withCertificate.waitForRecords(1).first?[path: "data", "payload"] as? String == "mutual")
            #expect(await withCertificate.stop() == 0)

            let withoutCertificate = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: "tls://localhost:\(broker.tlsPort!)",
                    topics: ["mtls/#"],
                    extra: ["tls:", "  ca_cert: \(tls.caCertificate)", "connect_timeout_secs: 5"]
                )
            )
            let failed = try await withoutCertificate.command(["check", "--config", withoutCertificate.configPath])
            #expect(failed.status == 1)
            #expect(failed.stdout.contains("FAILED mqtt connect"), "\(failed.stdout)")
        }
    }

    @Test func wrongCAIsAClearErrorNotASilentLoop() async throws {
        let certificates = try TemporaryDirectory(prefix: "tls")
        defer { certificates.cleanup() }
        let tls = try await TLSMaterial.generate(in: certificates.path)
        try await MosquittoBroker.with(MosquittoBroker.Options(tls: tls)) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: "mqtts://localhost:\(broker.tlsPort!)",
                    topics: ["secure/#"],
                    extra: ["tls:", "  ca_cert: \(tls.otherCACertificate)", "max_reconnect_attempts: 2"]
                )
            )
            let check = try await gateway.command(["check", "--config", gateway.configPath])
            #expect(check.status == 1)
            #expect(check.stdout.contains("certificate verify failed"), "\(check.stdout)")

            try await gateway.start(waitForSubscription: false)
            #expect(await gateway.process.waitForExit() == 1)
            #expect(gateway.process.stderrText.contains("ERROR MQTT connection failed"))
            #expect(gateway.process.stderrText.contains("certificate verify failed"))
        }
    }

    @Test func willFiresOnKillButNotOnSIGTERM() async throws {
        try await MosquittoBroker.with { broker in
            let watcher = try await MQTTTool.startSubscriber(to: broker.endpoint(), topics: ["status/#"], qos: 1)
            let yaml = Gateway.connectorYAML(
                url: broker.url,
                topics: ["w/#"],
                extra: ["last_will:", "  topic: status/gw", "  message: offline", "  qos: 1"]
            )
            let killed = try Gateway(yaml: yaml)
            try await killed.start()
            killed.process.signal(SIGKILL)
            let will = await watcher.waitForMessages(count: 1)
            #expect(will.first?.topic == "status/gw")
            #expect(will.first?.text == "offline")

            let stopped = try Gateway(yaml: yaml)
            try await stopped.start()
            #expect(await stopped.stop() == 0)
            // Had the will fired on SIGTERM, the broker would have sent it before this marker.
            try await MQTTTool.publish(to: broker.endpoint(), topic: "status/marker", message: "after", qos: 1)
            let next = await watcher.waitForMessages(count: 2)
            #expect(next.count == 2)
            #expect(next.last?.topic == "status/marker")
            await watcher.stop()
        }
    }

    /// SIGTERM while a flood is arriving: unread messages sit in the socket when the gateway says goodbye; the
    /// DISCONNECT must still reach the broker (no TCP reset), so the will does not fire.
    @Test func noWillOnSIGTERMUnderAFlood() async throws {
        try await MosquittoBroker.with { broker in
            let watcher = try await MQTTTool.startSubscriber(to: broker.endpoint(), topics: ["status/#"], qos: 1)
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["flood/#"],
                    extra: [
                        "qos: at_least_once", "clean_session: false", "client_id: gw-flood",
                        "last_will:", "  topic: status/gw", "  message: offline", "  qos: 1",
                    ]
                )
            )
            try await gateway.start()
            let padding = String(repeating: "x", count: 512)
            let flood = Task {
                try await MQTTTool.publishMany(
                    to: broker.endpoint(),
                    topic: "flood/x",
                    messages: (1...30_000).map { "\($0) \(padding)" },
                    qos: 1,
                    timeout: .seconds(240)
                )
            }
            _ = await gateway.process.waitForStderr(containing: "MQTT subscribed", timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(800))
            let status = await gateway.stop()
            #expect(status == 0, "\(gateway.process.stderrText.suffix(3000))")
            try await flood.value
            try await MQTTTool.publish(to: broker.endpoint(), topic: "status/marker", message: "after", qos: 1)
            let seen = await watcher.waitForMessages(count: 1)
            #expect(seen.first?.topic == "status/marker", "the will fired: \(seen.map(\.topic))")
            await watcher.stop()
        }
    }

    @Test func persistentSessionDeliversWhatArrivedWhileStopped() async throws {
        try await MosquittoBroker.with { broker in
            let yaml = Gateway.connectorYAML(
                url: broker.url,
                topics: ["persist/#"],
                extra: ["qos: at_least_once", "clean_session: false"]
            )
            let first = try Gateway(yaml: yaml)
            try await first.start()
            #expect(await first.stop() == 0)
            let messages = (1...5).map { "offline-\($0)" }
            try await MQTTTool.publishMany(to: broker.endpoint(), topic: "persist/x", messages: messages, qos: 1)
            let second = try Gateway(yaml: yaml)
            try await second.start()
            let records = await second.waitForRecords(5)
            #expect(records.compactMap { $0[path: "data", "payload"] as? String } == messages)
            #expect(await second.stop() == 0)
        }
    }

    @Test func resubscribesAfterABrokerRestart() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["restart/#"],
                    extra: ["qos: 1", "retry_initial_ms: 50", "retry_max_ms: 500"]
                )
            )
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "restart/before", message: "1", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            try await broker.restart()
            #expect(await gateway.process.waitForStderr(containing: "MQTT connection lost"))
            let resubscribed = await Eventually.wait(timeout: .seconds(30)) {
                gateway.process.stderrText.components(separatedBy: "MQTT subscribed").count - 1 >= 2
            }
            #expect(resubscribed, "\(gateway.process.stderrText)")
            try await MQTTTool.publish(to: broker.endpoint(), topic: "restart/after", message: "2", qos: 1)
            let records = await gateway.waitForRecords(2)
            #expect(records.last?[path: "data", "topic"] as? String == "restart/after")
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func unreachableBrokerIsRetriedThenGivenUp() async throws {
        let port = FreePort.allocate()
        let gateway = try Gateway(
            yaml: Gateway.connectorYAML(
                url: "mqtt://127.0.0.1:\(port)",
                topics: ["x"],
                extra: ["max_reconnect_attempts: 3", "retry_initial_ms: 10", "retry_max_ms: 100"]
            )
        )
        try await gateway.start(waitForSubscription: false)
        #expect(await gateway.process.waitForExit() == 1)
        let stderr = gateway.process.stderrText
        #expect(stderr.contains("Connection refused"), "\(stderr)")
        #expect(stderr.contains("gave up after 3 failed connection attempts"))
        // Logged once per state change, not once per attempt.
        #expect(stderr.components(separatedBy: "retrying with backoff").count - 1 == 1)
    }

    @Test func sigtermAndSigintStopCleanly() async throws {
        try await MosquittoBroker.with { broker in
            for signal in [SIGTERM, SIGINT] {
                let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["s/#"]))
                try await gateway.start()
                gateway.process.signal(signal)
                #expect(await gateway.process.waitForExit() == 0)
                #expect(gateway.process.stderrText.contains("stopping gracefully"))
                #expect(gateway.process.stderrText.contains("stopped"))
            }
        }
    }

    @Test func aSecondSignalExitsAtOnceWhenTheDrainIsStuck() async throws {
        try await MosquittoBroker.with { broker in
            try await Gateway.withStuckOutput(broker: broker) { gateway in
                gateway.process.signal(SIGTERM)
                #expect(await gateway.process.waitForStderr(containing: "stopping gracefully"))
                gateway.process.signal(SIGTERM)
                #expect(await gateway.process.waitForExit() == 128 + SIGTERM)
                #expect(gateway.process.stderrText.contains("received again: exiting at once"))
            }
        }
    }

    @Test func refusedSubscriptionIsFatalAndDowngradeIsAWarning() async throws {
        // Stock mosquitto refuses subscriptions (SUBACK 0x80) only through a plugin: the dynamic-security plugin
        // shipped in Debian's package, with a role that may subscribe to allowed/# only.
        let security = try TemporaryDirectory(prefix: "dynsec")
        defer { security.cleanup() }
        let dynsec = security.path + "/dynsec.json"
        _ = try await BinaryProcess.runChecked("mosquitto_ctrl", ["dynsec", "init", dynsec, "admin", "admin-pw"])
        let options = MosquittoBroker.Options(
            allowAnonymous: false,
            extraConfiguration: [
                "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                "plugin_opt_config_file \(dynsec)",
            ]
        )
        try await MosquittoBroker.with(options) { broker in
            let control = ["-p", "\(broker.port)", "-u", "admin", "-P", "admin-pw", "dynsec"]
            for command in [
                ["createClient", "gw", "-p", Self.secret], ["createRole", "reader"],
                ["addRoleACL", "reader", "subscribePattern", "allowed/#", "allow", "5"],
                ["addClientRole", "gw", "reader"],
            ] {
                _ = try await BinaryProcess.runChecked("mosquitto_ctrl", control + command)
            }
            let auth = ["auth:", "  username: gw", "  password: \(Self.secret)"]
            let refused = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["allowed/#", "forbidden/#"], extra: auth)
            )
            let check = try await refused.command(["check", "--config", refused.configPath])
            #expect(check.status == 1)
            #expect(
                check.stdout.contains("ok     mqtt subscribe allowed/# [mqtt-source]: granted QoS 0"),
                "\(check.stdout)"
            )
            #expect(
                check.stdout.contains("FAILED mqtt subscribe forbidden/# [mqtt-source]: refused"),
                "\(check.stdout)"
            )
            try await refused.start(waitForSubscription: false)
            #expect(await refused.process.waitForExit() == 1)
            #expect(refused.process.stderrText.contains("refused the subscription to 'forbidden/#'"))
        }
        let downgrade = MosquittoBroker.Options(listenerConfiguration: ["max_qos 1"])
        try await MosquittoBroker.with(downgrade) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["d/#"], extra: ["qos: exactly_once"])
            )
            let check = try await gateway.command(["check", "--config", gateway.configPath])
            #expect(check.status == 1)
            #expect(check.stdout.contains("granted QoS 1, lower than the requested QoS 2"), "\(check.stdout)")
            try await gateway.start()
            #expect(gateway.process.stderrText.contains("broker granted a lower QoS than requested"))
            try await MQTTTool.publish(to: broker.endpoint(), topic: "d/1", message: "still delivered", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            #expect(await gateway.stop() == 0)
        }
    }
}
