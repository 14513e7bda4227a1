import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct Problems {
        @Test func unknownConfigKeyGetsDidYouMean() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["keep_alive_sec: 30"]))
            #expect(lines == ["config.keep_alive_sec: unknown key; did you mean `keep_alive_secs`?"])
        }

        @Test(arguments: [
            (["bach:", "  max_messages: 10"], "bach", "batch"),
            (["metrics:", "  listne: off"], "metrics.listne", "listen"),
            (["log:", "  segement_bytes: 1MiB"], "log.segement_bytes", "segment_bytes"),
            (["buffer:", "  when-full: block"], "buffer.when-full", "when_full"),
        ])
        func unknownTopLevelKeysGetDidYouMean(_ top: [String], _ path: String, _ suggestion: String) {
            let problems = ConfigFixture.problems(ConfigFixture.connector(top: top))
            #expect(problems.map(\.path) == [path])
            #expect(problems.first?.message.contains("did you mean `\(suggestion)`?") == true, "\(problems)")
        }

        @Test func farOffUnknownKeyListsTheKnownKeysInstead() {
            let problems = ConfigFixture.problems(ConfigFixture.connector(top: ["batch:", "  zzz: 1"]))
            #expect(problems.map(\.path) == ["batch.zzz"])
            #expect(problems.first?.message.contains("did you mean") == false)
            #expect(problems.first?.message.contains("`linger_ms`") == true)
        }

        @Test func misplacedCredentialsPointToTheirSection() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["password: hunter2", "ca_cert: /x"]))
            #expect(
                lines == [
                    "config.password: unknown key; did you mean `auth.password`?",
                    "config.ca_cert: unknown key; did you mean `tls.ca_cert`?",
                ]
            )
            #expect(!lines.joined().contains("hunter2"))
        }

        @Test func unknownKeysInNestedSections() {
            let yaml = ConfigFixture.connector(config: [
                "auth:", "  usrname: a", "tls:", "  insecur: true", "last_will:", "  topic: t", "  retian: true",
            ])
            #expect(
                ConfigFixture.lines(yaml) == [
                    "config.auth.usrname: unknown key; did you mean `username`?",
                    "config.tls.insecur: unknown key; did you mean `insecure`?",
                    "config.last_will.retian: unknown key; did you mean `retain`?",
                ]
            )
        }

        @Test func everyProblemIsReportedTogetherInDocumentOrder() {
            let yaml = """
                type: mqtt-source
                topic: "iot/events"
                config:
                  broker_url: http://broker
                  topics: ["a/#/b", "ok/+"]
                  qos: 5
                  keep_alive_secs: abc
                  clean_session: maybe
                  connections: 4
                  retry_multiplier: 20
                batch:
                  max_messages: 0
                  linger_ms: 1.5
                metrics:
                  prefix: 9x
                """
            let lines = ConfigFixture.lines(yaml)
            let paths = ConfigFixture.problems(yaml).map(\.path)
            #expect(
                paths == [
                    "topic", "config.broker_url", "config.topics[0]", "config.qos", "config.keep_alive_secs",
                    "config.clean_session", "config.connections", "config.retry_multiplier", "batch.max_messages",
                    "batch.linger_ms", "metrics.prefix",
                ],
                "\(lines)"
            )
            #expect(lines.contains("config.keep_alive_secs: expected an integer, got `abc`"))
            #expect(lines.contains("config.clean_session: expected true or false, got `maybe`"))
            #expect(lines.contains("batch.linger_ms: expected a whole number, got `1.5`"))
            #expect(lines.contains("config.retry_multiplier: 20.0 is above the maximum 10.0"))
        }

        @Test func missingRequiredKeys() {
            let yaml = """
                type: mqtt-source
                config:
                  qos: 1
                """
            #expect(
                ConfigFixture.lines(yaml) == [
                    "topic: required",
                    "config.broker_url: required (such as `mqtt://broker:1883`)",
                    "config.topics: required: at least one MQTT topic filter, such as `[sensors/#]`",
                ]
            )
        }

        @Test func wrongContainerTypes() {
            let yaml = ConfigFixture.connector(config: ["auth: alice", "client_id: [a, b]"], top: ["batch: 5"])
            #expect(
                ConfigFixture.lines(yaml) == [
                    "config.auth: expected a mapping, got `alice`",
                    "config.client_id: expected a string, got a list",
                    "batch: expected a mapping, got `5`",
                ]
            )
            let topics = ConfigFixture.lines(
                """
                type: mqtt-source
                topic: t
                config: {broker_url: "mqtt://b", topics: "a/#"}
                """
            )
            #expect(topics == ["config.topics: expected a list of MQTT topic filters, got `a/#`"])
        }

        @Test func emptyTopicListAndDuplicateTopics() {
            let empty = ConfigFixture.connector().replacingOccurrences(of: "[\"sensors/#\"]", with: "[]")
            #expect(ConfigFixture.problems(empty).map(\.path) == ["config.topics"])
            let duplicate = ConfigFixture.connector().replacingOccurrences(of: "[\"sensors/#\"]", with: "[a, b, a]")
            #expect(ConfigFixture.lines(duplicate) == ["config.topics[2]: duplicates config.topics[0]"])
        }

        @Test func connectionsNeedASharedGroup() throws {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["connections: 4"]))
            #expect(lines.count == 1)
            #expect(lines.first?.hasPrefix("config.connections: 4 connections need `shared_group`") == true)

            let yaml = ConfigFixture.connector(config: ["connections: 3", "shared_group: ingest", "client_id: gw"])
            let mqtt = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt)
            #expect(mqtt.subscriptionFilters == ["$share/ingest/sensors/#"])
            #expect(mqtt.topics == ["sensors/#"])
            #expect((0..<3).map(mqtt.clientID(forConnection:)) == ["gw-1", "gw-2", "gw-3"])
        }

        @Test func sharedGroupRules() {
            let bad = ConfigFixture.connector(config: ["shared_group: a/b"])
            #expect(ConfigFixture.problems(bad).map(\.path) == ["config.shared_group"])
            let doubled = ConfigFixture.connector(config: ["shared_group: g"])
                .replacingOccurrences(of: "[\"sensors/#\"]", with: "[\"$share/h/x\"]")
            #expect(ConfigFixture.problems(doubled).map(\.path) == ["config.topics[0]"])
        }

        @Test(arguments: ["iot.{1}", "iot.{topic}", "{2}-{3}", "fixed.topic", "a{10}b"])
        func validTopicRouting(_ template: String) throws {
            let yaml = ConfigFixture.connector(config: ["topic_routing: \"\(template)\""])
            #expect(ConfigFixture.parse(yaml)?.sources[0].mqtt.topicRouting == template)
        }

        @Test(arguments: ["iot.{0}", "iot.{device}", "iot.{1", "iot}", "iot/{1}", "", "{}", "-{1}"])
        func invalidTopicRouting(_ template: String) {
            let yaml = ConfigFixture.connector(config: ["topic_routing: \"\(template)\""])
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["config.topic_routing"])
        }

        @Test(arguments: ["iot-events", "a", "A.b_c-9", String(repeating: "x", count: 255)])
        func validRivvenTopics(_ name: String) throws {
            let yaml = ConfigFixture.connector(config: ["dead_letter_topic: \(name)"])
                .replacingOccurrences(of: "topic: iot-events", with: "topic: \(name)")
            let source = try #require(ConfigFixture.parse(yaml)?.sources[0])
            #expect(source.topic == name)
            #expect(source.mqtt.deadLetterTopic == name)
        }

        @Test(arguments: ["iot/events", "a b", ".hidden", "a..b", String(repeating: "x", count: 256), "\"\"", "ü"])
        func invalidRivvenTopics(_ name: String) {
            let yaml = ConfigFixture.connector(config: ["dead_letter_topic: \(name)"])
                .replacingOccurrences(of: "topic: iot-events", with: "topic: \(name)")
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["topic", "config.dead_letter_topic"])
        }

        @Test func emptyClientIDIsRejected() {
            let yaml = ConfigFixture.connector(config: ["client_id: \"\""])
            #expect(ConfigFixture.problems(yaml).map(\.path) == ["config.client_id"])
        }

        @Test func duplicateYAMLKeysAreReportedWithTheirLine() {
            let yaml = ConfigFixture.connector(config: ["qos: 1", "qos: 2"])
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.count == 1)
            #expect(problems.first?.path == ConfigurationError.Problem.fileLevel)
            #expect(problems.first?.message.contains("`qos`") == true, "\(problems)")
            #expect(problems.first?.message.contains("line ") == true)
        }

        @Test func errorDescriptionHasOneLinePerProblemWithTheFile() {
            let error = ConfigurationError(
                file: "/etc/rivven-mqtt.yaml",
                problems: [
                    .init(path: "config.qos", message: "bad"),
                    .init(path: ConfigurationError.Problem.fileLevel, message: "whole file"),
                ]
            )
            #expect(
                error.description == "/etc/rivven-mqtt.yaml: config.qos: bad\n/etc/rivven-mqtt.yaml: whole file"
            )
            #expect(ConfigurationError(problems: [.init(path: "a.b", message: "c")]).description == "a.b: c")
        }
    }
}
