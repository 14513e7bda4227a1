import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct EnvironmentExpansion {
        @Test func setVariableIsSubstitutedAnywhereInAString() throws {
            let yaml = ConfigFixture.connector(config: [
                "client_id: gw-${SITE}-ingest", "auth:", "  username: ${MQTT_USER}", "  password: ${MQTT_PASSWORD}",
            ])
            let environment = ["SITE": "oslo", "MQTT_USER": "alice", "MQTT_PASSWORD": "hunter2"]
            let mqtt = try #require(ConfigFixture.parse(yaml, environment: environment)?.sources[0].mqtt)
            #expect(mqtt.clientID == "gw-oslo-ingest")
            #expect(mqtt.clientIDIsDerived == false)
            #expect(mqtt.username == "alice")
            #expect(mqtt.password?.value == "hunter2")
        }

        @Test func defaultIsUsedWhenUnsetOrEmpty() throws {
            let yaml = ConfigFixture.connector(config: ["client_id: ${CID:-fallback-id}"])
            #expect(ConfigFixture.parse(yaml)?.sources[0].mqtt.clientID == "fallback-id")
            #expect(ConfigFixture.parse(yaml, environment: ["CID": ""])?.sources[0].mqtt.clientID == "fallback-id")
            #expect(ConfigFixture.parse(yaml, environment: ["CID": "set"])?.sources[0].mqtt.clientID == "set")
        }

        @Test func expansionHappensBeforeTypeConversion() throws {
            let yaml = ConfigFixture.connector(
                config: [
                    "keep_alive_secs: ${KA:-60}", "clean_session: ${CLEAN}", "qos: ${QOS:-1}",
                    "retry_multiplier: \"${MULT:-1.5}\"",
                ],
                top: ["batch:", "  max_bytes: ${BATCH_BYTES:-2MiB}"]
            )
            let configuration = try #require(ConfigFixture.parse(yaml, environment: ["KA": "120", "CLEAN": "false"]))
            let mqtt = configuration.sources[0].mqtt
            #expect(mqtt.keepAliveSecs == 120)
            #expect(mqtt.cleanSession == false)
            #expect(mqtt.qos == .atLeastOnce)
            #expect(mqtt.retryMultiplier == 1.5)
            #expect(configuration.batch.maxBytes == 2 << 20)
        }

        @Test func expandedValuesAreStillRangeChecked() {
            let yaml = ConfigFixture.connector(config: ["keep_alive_secs: ${KA}"])
            #expect(
                ConfigFixture.lines(yaml, environment: ["KA": "3"]) == [
                    "config.keep_alive_secs: 3 is below the minimum 5"
                ]
            )
        }

        @Test func missingVariableWithoutDefaultNamesTheVariableAndThePath() {
            let yaml = ConfigFixture.connector(config: ["auth:", "  username: u", "  password: ${MQTT_PASSWORD}"])
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.count == 1)
            #expect(problems.first?.path == "config.auth.password")
            #expect(problems.first?.message.contains("`MQTT_PASSWORD`") == true)
        }

        @Test func everyMissingVariableIsReported() {
            let yaml = ConfigFixture.connector(config: ["client_id: ${A}-${B}"], top: ["log:", "  dir: ${DATA_DIR}"])
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.map(\.path) == ["config.client_id", "config.client_id", "log.dir"])
            #expect(problems.map(\.message).joined().contains("`A`"))
            #expect(problems.map(\.message).joined().contains("`B`"))
            #expect(problems.map(\.message).joined().contains("`DATA_DIR`"))
        }

        @Test func dollarDollarAndMalformedReferencesAreLiteral() throws {
            let yaml = ConfigFixture.connector(config: ["client_id: \"a$$b-${1X}-${unclosed-$HOME\""])
            let mqtt = try #require(ConfigFixture.parse(yaml, environment: ["HOME": "/root"])?.sources[0].mqtt)
            #expect(mqtt.clientID == "a$$b-${1X}-${unclosed-$HOME")
        }

        @Test func brokerURLIsExpanded() throws {
            let yaml = ConfigFixture.connector().replacingOccurrences(
                of: "mqtt://broker.local:1883",
                with: "${MQTT_URL:-mqtt://localhost}"
            )
            let url = try #require(ConfigFixture.parse(yaml, environment: ["MQTT_URL": "mqtts://b.example:8884"]))
                .sources[0].mqtt.brokerURL
            #expect(url.original == "mqtts://b.example:8884")
            #expect(url.useTLS && url.port == 8884)
        }

        @Test func ignoredSectionsAreNotExpanded() throws {
            let yaml = """
                version: "1.0"
                sources:
                  iot:
                    connector: mqtt-source
                    topic: iot
                    config:
                      broker_url: mqtt://b
                      topics: [a/#]
                sinks:
                  s3:
                    connector: s3
                    config: {secret: "${AWS_SECRET}"}
                """
            #expect(ConfigFixture.parse(yaml)?.sources.count == 1)
        }
    }
}
