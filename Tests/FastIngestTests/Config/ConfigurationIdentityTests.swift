import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct ClientIDAndRedaction {
        @Test func derivedClientIDIsStableAndWellFormed() throws {
            let yaml = ConfigFixture.connector()
            let first = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.clientID)
            let second = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.clientID)
            #expect(first == second)
            #expect(first.count == 20)
            #expect(first.hasPrefix("rivven-mqtt-"))
            let hex = first.dropFirst("rivven-mqtt-".count)
            #expect(hex.allSatisfy { "0123456789abcdef".contains($0) })
            // Pinned: the derivation must not change between releases, or persistent sessions are lost.
            #expect(
                MQTTConfiguration.derivedClientID(
                    hostName: ConfigFixture.hostName,
                    brokerURL: "mqtt://broker.local:1883",
                    topics: ["sensors/#"],
                    sourceName: "mqtt-source"
                ) == first
            )
        }

        @Test func derivedClientIDDependsOnHostBrokerTopicsAndName() throws {
            func id(_ yaml: String, host: String = ConfigFixture.hostName) throws -> String {
                try #require(ConfigFixture.parse(yaml, hostName: host)?.sources[0].mqtt.clientID)
            }
            let base = ConfigFixture.connector()
            let ids = try [
                id(base),
                id(base, host: "edge-gw-02"),
                id(base.replacingOccurrences(of: "broker.local:1883", with: "broker.local:1884")),
                id(base.replacingOccurrences(of: "sensors/#", with: "sensors/+")),
                id("name: other\n" + base),
            ]
            #expect(Set(ids).count == ids.count, "\(ids)")
        }

        @Test func derivedClientIDIgnoresTopicOrder() {
            let a = MQTTConfiguration.derivedClientID(
                hostName: "h",
                brokerURL: "u",
                topics: ["x", "y"],
                sourceName: "s"
            )
            let b = MQTTConfiguration.derivedClientID(
                hostName: "h",
                brokerURL: "u",
                topics: ["y", "x"],
                sourceName: "s"
            )
            let c = MQTTConfiguration.derivedClientID(hostName: "h", brokerURL: "u", topics: ["xy"], sourceName: "s")
            #expect(a == b)
            #expect(a != c)
        }

        @Test func cleanSessionFalseWorksWithTheDerivedID() throws {
            let mqtt = try #require(
                ConfigFixture.parse(ConfigFixture.connector(config: ["clean_session: false"]))?.sources[0].mqtt
            )
            #expect(mqtt.cleanSession == false)
            #expect(mqtt.clientIDIsDerived)
        }

        @Test func sourcesSharingAClientIDAreAProblem() {
            let yaml = """
                sources:
                  a:
                    connector: mqtt-source
                    topic: a
                    config: {broker_url: "mqtt://b", topics: [a], client_id: same}
                  b:
                    connector: mqtt-source
                    topic: b
                    config: {broker_url: "mqtt://b", topics: [b], client_id: same}
                """
            let lines = ConfigFixture.lines(yaml)
            #expect(lines.count == 1)
            #expect(
                lines.first?.hasPrefix("sources.b.config.client_id: client id `same` is also used by source `a`")
                    == true
            )
        }

        @Test func passwordsAreRedactedEverywhere() throws {
            let yaml = ConfigFixture.connector(
                config: ["auth:", "  username: alice", "  password: hunter2-mqtt"],
                top: [
                    "broker:", "  bootstrap_servers: [\"r:9092\"]", "  auth: {username: svc, password: hunter2-rivven}",
                ]
            )
            let configuration = try #require(ConfigFixture.parse(yaml))
            let mqtt = configuration.sources[0].mqtt
            #expect(mqtt.password?.value == "hunter2-mqtt")
            #expect(configuration.rivven?.password?.value == "hunter2-rivven")

            for text in [
                "\(mqtt)", String(describing: mqtt), String(reflecting: mqtt), "\(configuration)",
                String(reflecting: configuration), "\(configuration.sources[0])", "\(configuration.rivven!)",
                String(reflecting: configuration.rivven!), "\(mqtt.password!)", String(reflecting: mqtt.password!),
            ] {
                #expect(!text.contains("hunter2"), "\(text)")
            }
            #expect("\(mqtt)".contains("password: ***"))
            #expect("\(mqtt)".contains("username: alice"))
        }

        @Test func typeErrorsNeverEchoAPassword() {
            let yaml = ConfigFixture.connector(config: ["auth:", "  password: {nested: hunter2}"])
            let lines = ConfigFixture.lines(yaml)
            #expect(lines == ["config.auth.password: expected a string, got a mapping"])
        }
    }
}
