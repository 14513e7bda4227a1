import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct Shapes {
        static let rivvenConnect = """
            version: "1.0"
            broker:
              bootstrap_servers:
                - rivven-1:9092
                - "[::1]:9093"
              tls:
                enabled: false
            sources:
              factory:
                connector: mqtt-source
                topic: factory-events
                enabled: true
                config:
                  broker_url: mqtts://mqtt.factory.local
                  topics: ["line/+/temp", "line/+/pressure"]
                  qos: at_least_once
              orders-db:
                connector: postgres-cdc
                topic: orders
                config:
                  host: db
                  anything: [goes, here]
              fleet:
                connector: mqtt
                topic: fleet
                transforms:
                  - type: filter
                    config: {field: speed}
                config:
                  broker_url: tcp://fleet-broker:1884
                  topics: ["vehicles/#"]
                  client_id: fleet-ingest
            sinks:
              debug:
                connector: stdout
                topics: [factory-events]
                consumer_group: debug
            settings:
              state_dir: ./state
              log_level: debug
            batch:
              linger_ms: 20
            """

        @Test func rivvenConnectFileWithTwoMQTTSourcesAndOneOther() throws {
            let configuration = try #require(ConfigFixture.parse(Self.rivvenConnect))
            #expect(configuration.sources.map(\.name) == ["factory", "fleet"])
            #expect(configuration.sources.map(\.topic) == ["factory-events", "fleet"])
            #expect(
                configuration.sources.map(\.configPathPrefix) == ["sources.factory.config", "sources.fleet.config"]
            )
            #expect(configuration.skippedConnectors == ["orders-db"])

            let factory = configuration.sources[0].mqtt
            #expect(factory.brokerURL.useTLS && factory.brokerURL.port == 8883)
            #expect(factory.topics == ["line/+/temp", "line/+/pressure"])
            #expect(factory.qos == .atLeastOnce)
            #expect(factory.clientIDIsDerived)

            let fleet = configuration.sources[1]
            #expect(fleet.mqtt.brokerURL.port == 1884 && !fleet.mqtt.brokerURL.useTLS)
            #expect(fleet.mqtt.clientID == "fleet-ingest")
            #expect(fleet.ignoredKeys == ["sources.fleet.transforms"])
            #expect(configuration.sources[0].ignoredKeys.isEmpty)

            #expect(configuration.rivven?.bootstrapServers == ["rivven-1:9092", "[::1]:9093"])
            #expect(configuration.batch.lingerMs == 20)
        }

        @Test func problemsInARivvenConnectFileUseTheSourcePath() {
            let yaml = Self.rivvenConnect
                .replacingOccurrences(of: "qos: at_least_once", with: "qos: 9")
                .replacingOccurrences(of: "client_id: fleet-ingest", with: "clientid: fleet-ingest")
            let lines = ConfigFixture.lines(yaml)
            #expect(lines.count == 2)
            #expect(lines.first?.hasPrefix("sources.factory.config.qos: expected one of") == true)
            #expect(lines.last == "sources.fleet.config.clientid: unknown key; did you mean `client_id`?")
        }

        @Test func perSourceKeysOfRivvenConnect() throws {
            let yaml = """
                sources:
                  a:
                    connector: mqtt-source
                    topic: a
                    topic_config: {partitions: 3, replication_factor: 1, auto_create: true}
                    rate_limit: {events_per_second: 100}
                    tables: []
                    schema_registry_url: http://registry:8081
                    config: {broker_url: "mqtt://b", topics: [a]}
                  off:
                    connector: mqtt-source
                    enabled: false
                    topic: off
                    config: {broker_url: "mqtt://b", topics: [b]}
                  typo:
                    connector: kafka
                    whatever: 1
                """
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.sources.map(\.name) == ["a"])
            #expect(
                configuration.sources[0].ignoredKeys
                    == ["sources.a.topic_config", "sources.a.rate_limit", "sources.a.schema_registry_url"]
            )
            #expect(configuration.skippedConnectors == ["typo"])

            let bad = yaml.replacingOccurrences(of: "    tables: []", with: "    tabels: []")
            #expect(ConfigFixture.lines(bad) == ["sources.a.tabels: unknown key; did you mean `tables`?"])
        }

        @Test func rivvenConnectFileWithoutMQTTSourcesIsAProblem() {
            let yaml = """
                version: "1.0"
                sources:
                  db:
                    connector: postgres-cdc
                    topic: t
                """
            let lines = ConfigFixture.lines(yaml)
            #expect(lines.count == 1)
            #expect(lines.first?.hasPrefix("sources: no enabled MQTT source") == true)
            #expect(lines.first?.contains("`db` (postgres-cdc)") == true)
            #expect(
                ConfigFixture.lines("version: \"1.0\"\n") == [
                    "sources: required: at least one source with `connector: mqtt-source`"
                ]
            )
        }

        @Test func sourceWithoutConnectorIsAProblem() {
            let yaml = """
                sources:
                  a:
                    topic: a
                    config: {broker_url: "mqtt://b", topics: [a]}
                """
            #expect(ConfigFixture.lines(yaml) == ["sources.a.connector: required (`mqtt-source`)"])
        }

        @Test func connectorFileWithSourcesIsAClearError() {
            let yaml = ConfigFixture.connector(top: ["sources:", "  other: {connector: mqtt-source}"])
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.map(\.path) == ["sources"])
            #expect(problems.first?.message.contains("rivven-connect") == true)
            #expect(problems.first?.message.contains("exactly one source") == true)
        }

        @Test func connectorFileNameAndWrongType() throws {
            let named = try #require(ConfigFixture.parse("name: gw-ingest\n" + ConfigFixture.connector()))
            #expect(named.sources[0].name == "gw-ingest")

            let kafka = ConfigFixture.connector().replacingOccurrences(of: "mqtt-source", with: "kafka-source")
            let lines = ConfigFixture.lines(kafka)
            #expect(lines.count == 1)
            #expect(lines.first?.hasPrefix("type: `kafka-source` is not an MQTT connector") == true)

            let untyped = ConfigFixture.connector().replacingOccurrences(of: "type: mqtt-source\n", with: "")
            #expect(ConfigFixture.lines(untyped) == ["type: required (`mqtt-source`)"])
        }

        @Test func fileThatIsNeitherShape() {
            let problems = ConfigFixture.problems("batch:\n  linger_ms: 5\n")
            #expect(problems.map(\.path) == [ConfigurationError.Problem.fileLevel])
            #expect(problems.first?.message.contains("rivven-connect") == true)
        }

        @Test(arguments: ["", "# only a comment\n", "~\n"])
        func emptyDocuments(_ yaml: String) {
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.count == 1)
            #expect(problems.first?.path == ConfigurationError.Problem.fileLevel)
            #expect(problems.first?.message.contains("empty") == true)
        }

        @Test(arguments: ["- a\n- b\n", "just a string\n", "42\n"])
        func topLevelMustBeAMapping(_ yaml: String) {
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.map(\.path) == [ConfigurationError.Problem.fileLevel])
            #expect(problems.first?.message.contains("expected a mapping at the top level") == true)
        }

        @Test func yamlSyntaxErrorCarriesLineAndColumn() {
            let yaml = "type: mqtt-source\nconfig:\n  topics: [a, b\n  qos: 1\n"
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.count == 1)
            #expect(problems.first?.path == ConfigurationError.Problem.fileLevel)
            let message = problems.first?.message ?? ""
            #expect(message.hasPrefix("not valid YAML: line "), "\(message)")
            #expect(message.contains("column"))
            #expect(!message.contains("\n"))
        }

        @Test func anchorsAndMergeKeysWork() throws {
            let yaml = """
                x-common: &common
                  broker_url: mqtt://shared-broker
                  qos: 1
                sources:
                  a:
                    connector: mqtt-source
                    topic: a
                    config:
                      <<: *common
                      topics: [a/#]
                  b:
                    connector: mqtt-source
                    topic: b
                    config:
                      <<: *common
                      qos: 2
                      topics: [b/#]
                """
            // `x-common` is not a rivven-connect key: it must be reported, everything else must merge.
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["x-common"])
            let clean = yaml.replacingOccurrences(of: "x-common: &common", with: "settings: &common")
            let configuration = try #require(ConfigFixture.parse(clean))
            #expect(configuration.sources.map(\.mqtt.brokerURL.host) == ["shared-broker", "shared-broker"])
            #expect(configuration.sources.map(\.mqtt.qos) == [.atLeastOnce, .exactlyOnce])
        }
    }
}
