import Foundation
import Testing
import Yams

@testable import FastIngest

extension ConfigTests {
    /// The sections as `Decodable` types: with a problem collector (as `IngestConfiguration.parse` decodes them)
    /// and on their own, with any decoder.
    @Suite struct Decoding {
        /// Decodes `type` from `yaml` with a collector in `userInfo`, as the loader does.
        static func decodeCollecting<Section: Decodable>(
            _ type: Section.Type,
            _ yaml: String
        ) throws -> (Section?, [String]) {
            let node = try #require(try Yams.compose(yaml: yaml))
            let collector = ConfigurationProblemCollector()
            let section: Section?
            do {
                section = try YAMLDecoder().decode(type, from: node, userInfo: [.configurationProblems: collector])
            } catch is InvalidConfigurationSection {
                section = nil
            }
            return (section, collector.problems.map(\.description))
        }

        /// Decodes `type` from `yaml` with no collector: the section collects its own problems and throws them
        /// together. (From a node, because `YAMLDecoder.decode(_:from: String)` wraps every error that is not a
        /// `DecodingError` in `DecodingError.dataCorrupted`.)
        static func decodeAlone<Section: Decodable>(_ type: Section.Type, _ yaml: String) throws -> Section {
            try YAMLDecoder().decode(type, from: try #require(try Yams.compose(yaml: yaml)))
        }

        @Test func badFieldsAreCollectedAndKeepTheirDefaults() throws {
            let (batch, problems) = try Self.decodeCollecting(
                BatchConfiguration.self,
                "max_messages: 0\nmax_bytes: 2MiB\nlinger_ms: soon\nmax_byts: 1\n"
            )
            #expect(batch == BatchConfiguration(maxMessages: 1000, maxBytes: 2 << 20, lingerMs: 5))
            #expect(
                problems == [
                    "max_messages: 0 is below the minimum 1",
                    "linger_ms: expected an integer, got `soon`",
                    "max_byts: unknown key; did you mean `max_bytes`?",
                ]
            )
        }

        @Test func aSectionWithoutItsRequiredValuesStillReportsEveryProblem() throws {
            let (will, problems) = try Self.decodeCollecting(MQTTLastWill.self, "qos: 7\nretain: perhaps\n")
            #expect(will == nil)
            #expect(problems.count == 3, "\(problems)")
            #expect(problems.first == "topic: required")
        }

        @Test func aSectionDecodedOnItsOwnThrowsEveryProblemAtOnce() throws {
            let yaml = "max_messages: 0\nlinger_ms: soon\nmax_byts: 1\n"
            #expect {
                try Self.decodeAlone(BatchConfiguration.self, yaml)
            } throws: { error in
                guard let error = error as? ConfigurationError else { return false }
                return error.problems.map(\.path) == ["max_messages", "linger_ms", "max_byts"]
            }
            let batch = try Self.decodeAlone(BatchConfiguration.self, "linger_ms: 20\n")
            #expect(batch == BatchConfiguration(lingerMs: 20))
            let log = try Self.decodeAlone(LogConfiguration.self, "{}")
            #expect(log == LogConfiguration())
        }

        @Test func nestedSectionsDecodedOnTheirOwnAddTheirProblems() throws {
            let yaml = "broker_url: mqtt://b\ntopics: [a]\nqos: 9\nlast_will: {qos: 1}\n"
            do {
                _ = try Self.decodeAlone(MQTTConfiguration.self, yaml)
                Issue.record("expected a configuration error")
            } catch let error as ConfigurationError {
                #expect(error.problems.map(\.path) == ["qos", "last_will.topic"])
            }
        }

        @Test func mqttConfigurationOnItsOwnDerivesTheClientIDOfAConnectorFile() throws {
            let mqtt = try Self.decodeAlone(MQTTConfiguration.self, "broker_url: mqtt://b\ntopics: [a]\n")
            #expect(mqtt.clientIDIsDerived)
            #expect(
                mqtt.clientID
                    == MQTTConfiguration.derivedClientID(
                        hostName: IngestConfiguration.currentHostName(),
                        brokerURL: "mqtt://b",
                        topics: ["a"],
                        sourceName: "mqtt-source"
                    )
            )
        }

        @Test func aBrokerSectionWithoutServersDecodesEmpty() throws {
            let rivven = try Self.decodeAlone(RivvenConfiguration.self, "{}")
            #expect(rivven.bootstrapServers.isEmpty)
            #expect(throws: ConfigurationError.self) {
                try Self.decodeAlone(RivvenConfiguration.self, "partitions: 2\n")
            }
        }

        @Test func somethingOtherThanAMappingIsAProblemWithTheWholeInput() throws {
            do {
                _ = try Self.decodeAlone(MetricsConfiguration.self, "5")
                Issue.record("expected a configuration error")
            } catch let error as ConfigurationError {
                #expect(error.description == "<file>: expected a mapping, got `5`")
            }
        }

        @Test func jsonNumbersAndBooleansAreReadAsTheirText() throws {
            let json = #"{"capacity_messages": 4096, "capacity_bytes": "128MiB", "when_full": "drop_oldest"}"#
            let buffer = try JSONDecoder().decode(BufferConfiguration.self, from: Data(json.utf8))
            #expect(
                buffer == BufferConfiguration(capacityMessages: 4096, capacityBytes: 128 << 20, whenFull: .dropOldest)
            )
            let bad = #"{"capacity_messages": 3000, "when_full": true, "capacity_bytes": [1]}"#
            do {
                _ = try JSONDecoder().decode(BufferConfiguration.self, from: Data(bad.utf8))
                Issue.record("expected a configuration error")
            } catch let error as ConfigurationError {
                #expect(
                    error.problems.map(\.description) == [
                        "capacity_messages: 3000 is not a power of two (such as 2048 or 4096)",
                        "capacity_bytes: expected a size, got a list",
                        "when_full: expected one of `block`, `drop_oldest`, `drop_newest`, got `true`",
                    ]
                )
            }
        }

        @Test func problemsComeInDocumentOrderAndCrossSectionProblemsLast() {
            let yaml = """
                batch:
                  max_messages: 0
                type: mqtt-source
                topic: t
                config:
                  max_payload_bytes: 128MiB
                  broker_url: mqtt://b
                  topics: [a]
                  qos: 9
                log:
                  fsync: sometimes
                """
            #expect(
                ConfigFixture.problems(yaml).map(\.path) == [
                    "batch.max_messages", "config.qos", "log.fsync", "config.max_payload_bytes",
                ]
            )
        }

        @Test(arguments: ["~", "", "null"])
        func anExpandedValueIsAStringNeverNull(_ value: String) {
            let yaml = ConfigFixture.connector(config: ["keep_alive_secs: ${KA}"])
            #expect(
                ConfigFixture.lines(yaml, environment: ["KA": value]) == [
                    "config.keep_alive_secs: expected an integer, got `\(value)`"
                ]
            )
        }

        @Test func aValueOfTheWrongKindIsShownAsWrittenNotExpanded() {
            let yaml = ConfigFixture.connector(config: ["auth: ${MQTT_AUTH}"])
            #expect(
                ConfigFixture.lines(yaml, environment: ["MQTT_AUTH": "hunter2"]) == [
                    "config.auth: expected a mapping, got `${MQTT_AUTH}`"
                ]
            )
        }

        @Test func aMissingVariableInAMergedMappingIsReportedWhereverItIsUsed() {
            let yaml = """
                settings: &common
                  broker_url: ${BROKER}
                  topics: [a]
                sources:
                  a: {connector: mqtt-source, topic: a, config: {<<: *common}}
                  b: {connector: mqtt-source, topic: b, config: {<<: *common, client_id: b}}
                """
            #expect(
                ConfigFixture.problems(yaml).map(\.path) == [
                    "sources.a.config.broker_url", "sources.b.config.broker_url",
                ]
            )
        }

        @Test func sourceNamesAndKeysThatLookLikeOtherTypesAreStrings() throws {
            let yaml = """
                sources:
                  1:
                    connector: mqtt-source
                    topic: one
                    config: {broker_url: "mqtt://b", topics: [a]}
                  "true":
                    connector: mqtt-source
                    topic: yes-topic
                    config: {"broker_url": "mqtt://b", 'topics': [b]}
                """
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.sources.map(\.name) == ["1", "true"])
            #expect(configuration.sources.map(\.configPathPrefix) == ["sources.1.config", "sources.true.config"])
        }
    }
}
