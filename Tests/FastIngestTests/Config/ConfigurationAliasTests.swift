import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct Aliases {
        @Test(arguments: [
            ("at_most_once", MQTTQoS.atMostOnce), ("at_least_once", .atLeastOnce), ("exactly_once", .exactlyOnce),
            ("0", .atMostOnce), ("1", .atLeastOnce), ("2", .exactlyOnce), ("\"1\"", .atLeastOnce),
            ("AT_LEAST_ONCE", .atLeastOnce),
        ])
        func qosForms(_ text: String, _ qos: MQTTQoS) throws {
            let configuration = try #require(ConfigFixture.parse(ConfigFixture.connector(config: ["qos: \(text)"])))
            #expect(configuration.sources[0].mqtt.qos == qos)
        }

        @Test(arguments: ["3", "-1", "once", "at_least_twice"])
        func badQoS(_ text: String) {
            let problems = ConfigFixture.problems(ConfigFixture.connector(config: ["qos: \(text)"]))
            #expect(problems.map(\.path) == ["config.qos"])
            #expect(problems.first?.message.contains("at_least_once") == true)
        }

        @Test func qosTypoGetsASuggestion() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["qos: at_least_onse"]))
            #expect(lines.count == 1)
            #expect(lines.first?.hasSuffix("did you mean `at_least_once`?") == true, "\(lines)")
        }

        @Test(arguments: [
            ("v3", MQTTProtocolVersion.v3), ("v311", .v311), ("v5", .v5), ("\"3.1\"", .v3), ("3.1", .v3),
            ("\"3.1.1\"", .v311), ("5", .v5), ("\"5\"", .v5), ("V5", .v5),
        ])
        func mqttVersionForms(_ text: String, _ version: MQTTProtocolVersion) throws {
            let yaml = ConfigFixture.connector(config: ["mqtt_version: \(text)"])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.sources[0].mqtt.protocolVersion == version)
        }

        @Test func badMQTTVersion() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["mqtt_version: v4"]))
            #expect(lines.count == 1)
            #expect(lines.first?.hasPrefix("config.mqtt_version: expected one of `v3`, `v311`, `v5`, got `v4`") == true)
        }

        @Test func lastWillPayloadIsAnAliasOfMessage() throws {
            for key in ["message", "payload"] {
                let yaml = ConfigFixture.connector(config: [
                    "last_will:", "  topic: status/gw-1", "  \(key): offline", "  qos: 1", "  retain: true",
                ])
                let will = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.lastWill)
                #expect(
                    will
                        == MQTTLastWill(
                            topic: "status/gw-1",
                            message: Array("offline".utf8),
                            qos: .atLeastOnce,
                            retain: true
                        )
                )
            }
        }

        @Test func lastWillDefaultsAndRules() throws {
            let yaml = ConfigFixture.connector(config: ["last_will:", "  topic: status/gw-1"])
            let will = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.lastWill)
            #expect(will.message.isEmpty && will.qos == .atMostOnce && will.retain == false)

            let bad = ConfigFixture.connector(config: [
                "last_will:", "  topic: status/+", "  message: a", "  payload: b", "  qos: 7",
            ])
            #expect(
                ConfigFixture.problems(bad).map(\.path)
                    == ["config.last_will.topic", "config.last_will.payload", "config.last_will.qos"]
            )
            let missing = ConfigFixture.connector(config: ["last_will:", "  message: bye"])
            #expect(ConfigFixture.lines(missing) == ["config.last_will.topic: required"])
        }

        @Test func brokerAddressIsAOneElementBootstrapList() throws {
            let yaml = ConfigFixture.connector(top: ["broker:", "  address: \"[::1]:9092\""])
            let rivven = try #require(ConfigFixture.parse(yaml)?.rivven)
            #expect(rivven.bootstrapServers == ["[::1]:9092"])
        }

        @Test func brokerAddressAndListTogetherIsAProblem() {
            let yaml = ConfigFixture.connector(top: [
                "broker:", "  bootstrap_servers: [\"a:9092\"]", "  address: b:9092",
            ])
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["broker.address"])
        }

        @Test func connectorTypeMqttIsAccepted() throws {
            let yaml = ConfigFixture.connector().replacingOccurrences(of: "type: mqtt-source", with: "type: mqtt")
            #expect(ConfigFixture.parse(yaml)?.sources.count == 1)
        }

        @Test(arguments: [
            ("none", RecordKeySpec.none), ("topic", .topic), ("json:device_id", .jsonField("device_id")),
            ("property:tenant", .property("tenant")),
        ])
        func keyForms(_ text: String, _ key: RecordKeySpec) throws {
            let yaml = ConfigFixture.connector(config: ["format: raw", "key: \"\(text)\""])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.sources[0].mqtt.key == key)
        }

        @Test(arguments: ["json:", "property:", "header:x", "topics"])
        func badKeys(_ text: String) {
            let problems = ConfigFixture.problems(ConfigFixture.connector(config: ["key: \"\(text)\""]))
            #expect(problems.map(\.path) == ["config.key"])
        }

        @Test(arguments: [
            ("1024KiB", 1_048_576), ("64MiB", 67_108_864), ("64 MiB", 67_108_864), ("1GiB", 1_073_741_824),
            ("2MB", 2_000_000), ("1500KB", 1_500_000), ("2097152", 2_097_152), ("\"2097152\"", 2_097_152),
            ("1mib", 1_048_576), ("1048576B", 1_048_576), ("1TB", 1_000_000_000_000),
        ])
        func sizeForms(_ text: String, _ bytes: Int) throws {
            let yaml = ConfigFixture.connector(top: ["log:", "  max_bytes: \(text)", "  segment_bytes: 1MiB"])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.log.maxBytes == bytes)
        }

        @Test func kilobytesAndKibibytesDiffer() throws {
            let kib = try #require(
                ConfigFixture.parse(ConfigFixture.connector(top: ["batch:", "  max_bytes: 512KiB"]))
            )
            let kb = try #require(ConfigFixture.parse(ConfigFixture.connector(top: ["batch:", "  max_bytes: 512KB"])))
            #expect(kib.batch.maxBytes == 524_288)
            #expect(kb.batch.maxBytes == 512_000)
        }

        @Test(arguments: ["1M", "2k", "lots", "1.5MiB", "-5", "12 parsecs"])
        func badSizes(_ text: String) {
            let problems = ConfigFixture.problems(ConfigFixture.connector(top: ["batch:", "  max_bytes: \(text)"]))
            #expect(problems.map(\.path) == ["batch.max_bytes"])
        }

        @Test func ambiguousUnitExplainsBothBases() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(top: ["batch:", "  max_bytes: 1M"]))
            #expect(lines.first?.contains("`MiB`") == true && lines.first?.contains("`MB`") == true)
        }

        @Test(arguments: ["block", "drop_oldest", "drop_newest"])
        func whenFullPolicies(_ text: String) throws {
            let yaml = ConfigFixture.connector(top: ["buffer:", "  when_full: \(text)"])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.buffer.whenFull.rawValue == text)
        }

        @Test func metricsListenForms() throws {
            for (text, expected) in [
                ("off", nil), ("\"off\"", nil), ("0.0.0.0:9100", "0.0.0.0:9100"), ("\"[::1]:9464\"", "[::1]:9464"),
                ("localhost:1", "localhost:1"), ("127.0.0.1:0", "127.0.0.1:0"),
            ] as [(String, String?)] {
                let yaml = ConfigFixture.connector(top: ["metrics:", "  listen: \(text)"])
                let configuration = try #require(ConfigFixture.parse(yaml))
                #expect(configuration.metrics.listen == expected, "\(text)")
            }
        }

        @Test(arguments: ["9464", "localhost", "localhost:-1", "localhost:70000", ":9464", "::1:9464", "on"])
        func badMetricsListen(_ text: String) {
            let yaml = ConfigFixture.connector(top: ["metrics:", "  listen: \"\(text)\""])
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["metrics.listen"])
        }

        @Test func metricsPrefix() throws {
            let good = ConfigFixture.connector(top: ["metrics:", "  prefix: edge_gw2"])
            #expect(ConfigFixture.parse(good)?.metrics.prefix == "edge_gw2")
            for bad in ["2fast", "rivven-mqtt", "\"\""] {
                let yaml = ConfigFixture.connector(top: ["metrics:", "  prefix: \(bad)"])
                #expect(ConfigFixture.problems(yaml).map(\.path) == ["metrics.prefix"], "\(bad)")
            }
        }

        @Test func bootstrapServersAreValidated() {
            let yaml = ConfigFixture.connector(top: [
                "broker:", "  bootstrap_servers:", "    - rivven-1:9092", "    - rivven-2", "    - \"[::1]:0\"",
            ])
            #expect(
                ConfigFixture.problems(yaml).map(\.path)
                    == ["broker.bootstrap_servers[1]", "broker.bootstrap_servers[2]"]
            )
        }

        @Test func brokerSettingsWithoutServersAreAProblem() {
            let yaml = ConfigFixture.connector(top: ["broker:", "  partitions: 3"])
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["broker.bootstrap_servers"])
        }

        @Test func fullBrokerSection() throws {
            let yaml = ConfigFixture.connector(top: [
                "broker:",
                "  bootstrap_servers: [\"rivven-1:9092\", \"rivven-2:9092\"]",
                "  tls: {enabled: true, insecure: true, server_name: rivven.internal}",
                "  auth: {username: ingest, password: s3cret}",
                "  create_topic: false",
                "  partitions: 6",
                "  idempotent: false",
                "  connection_timeout_ms: 10000",
            ])
            let rivven = try #require(ConfigFixture.parse(yaml)?.rivven)
            #expect(rivven.bootstrapServers == ["rivven-1:9092", "rivven-2:9092"])
            #expect(rivven.tls == RivvenTLSConfiguration(enabled: true, insecure: true, serverName: "rivven.internal"))
            #expect(rivven.username == "ingest")
            #expect(rivven.password == Secret("s3cret"))
            #expect(rivven.createTopic == false && rivven.partitions == 6 && rivven.idempotent == false)
        }
    }
}
