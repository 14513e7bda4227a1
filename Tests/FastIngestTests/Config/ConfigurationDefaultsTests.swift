import FastIngest
import Testing

extension ConfigTests {
    @Suite struct Defaults {
        @Test func minimalConnectorFileYieldsEverySpecDefault() throws {
            let configuration = try #require(ConfigFixture.parse(ConfigFixture.connector()))
            #expect(configuration.sources.count == 1)
            let source = configuration.sources[0]
            #expect(source.name == "mqtt-source")
            #expect(source.topic == "iot-events")
            #expect(source.configPathPrefix == "config")
            #expect(source.ignoredKeys.isEmpty)

            let mqtt = source.mqtt
            #expect(
                mqtt.brokerURL == BrokerURL(original: "mqtt://broker.local:1883", useTLS: false, host: "broker.local")
            )
            #expect(mqtt.topics == ["sensors/#"])
            #expect(mqtt.clientIDIsDerived)
            #expect(mqtt.clientID.hasPrefix("rivven-mqtt-"))
            #expect(mqtt.qos == .atMostOnce)
            #expect(mqtt.cleanSession == true)
            #expect(mqtt.keepAliveSecs == 60)
            #expect(mqtt.connectTimeoutSecs == 30)
            #expect(mqtt.protocolVersion == .v311)
            #expect(mqtt.username == nil)
            #expect(mqtt.password == nil)
            #expect(mqtt.tls == MQTTTLSConfiguration(caCert: nil, clientCert: nil, clientKey: nil, insecure: false))
            #expect(mqtt.maxInflight == 100)
            #expect(mqtt.reconnectDelayMs == 5000)
            #expect(mqtt.maxReconnectAttempts == 0)
            #expect(mqtt.retryInitialMs == 100)
            #expect(mqtt.retryMaxMs == 10_000)
            #expect(mqtt.retryMultiplier == 2.0)
            #expect(mqtt.parseJSONPayload == true)
            #expect(mqtt.includeMetadata == true)
            #expect(mqtt.emptyPollDelayMs == 50)
            #expect(mqtt.lastWill == nil)
            #expect(mqtt.sharedGroup == nil)
            #expect(mqtt.connections == 1)
            #expect(mqtt.format == .envelope)
            #expect(mqtt.key == .none)
            #expect(mqtt.topicRouting == nil)
            #expect(mqtt.deadLetterTopic == nil)
            #expect(mqtt.maxPayloadBytes == 1_048_576)
            #expect(mqtt.subscriptionFilters == ["sensors/#"])
            #expect(mqtt.clientID(forConnection: 0) == mqtt.clientID)

            #expect(configuration.rivven == nil)
            #expect(configuration.batch == BatchConfiguration(maxMessages: 1000, maxBytes: 1_048_576, lingerMs: 5))
            #expect(
                configuration.buffer
                    == BufferConfiguration(capacityMessages: 65536, capacityBytes: 67_108_864, whenFull: .block)
            )
            #expect(
                configuration.log
                    == LogConfiguration(dir: "./data", maxBytes: 1_073_741_824, segmentBytes: 67_108_864, fsync: .batch)
            )
            #expect(configuration.metrics == MetricsConfiguration(listen: "127.0.0.1:9464", prefix: "rivven"))
            #expect(configuration.skippedConnectors.isEmpty)
        }

        @Test func rawFormatDefaultsTheKeyToTheTopic() throws {
            let configuration = try #require(ConfigFixture.parse(ConfigFixture.connector(config: ["format: raw"])))
            #expect(configuration.sources[0].mqtt.format == .raw)
            #expect(configuration.sources[0].mqtt.key == .topic)
        }

        @Test func brokerDefaults() throws {
            let yaml = ConfigFixture.connector(top: ["broker:", "  bootstrap_servers: [\"rivven-1:9092\"]"])
            let rivven = try #require(ConfigFixture.parse(yaml)?.rivven)
            #expect(rivven.bootstrapServers == ["rivven-1:9092"])
            #expect(rivven.tls == RivvenTLSConfiguration())
            #expect(rivven.tls.enabled == false)
            #expect(rivven.username == nil && rivven.password == nil)
            #expect(rivven.createTopic == true)
            #expect(rivven.partitions == 1)
            #expect(rivven.idempotent == true)
        }

        @Test func emptySectionsKeepDefaults() throws {
            let yaml = ConfigFixture.connector(top: ["batch:", "buffer: {}", "log:", "metrics: {}", "broker:"])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.batch == BatchConfiguration())
            #expect(configuration.buffer == BufferConfiguration())
            #expect(configuration.log == LogConfiguration())
            #expect(configuration.metrics == MetricsConfiguration())
            #expect(configuration.rivven == nil)
        }
    }
}
