import Foundation
import Testing

/// MQTT 5 end to end against a real mosquitto: PUBLISH properties reach the records (`data.properties`) and the key
/// (`key: property:NAME`), and a persistent MQTT 5 session outlives the gateway (Session Expiry Interval).
@Suite("MQTT 5 properties", .timeLimit(.minutes(5)))
struct MQTT5PropertiesTests {
    /// Every property kind the gateway keeps; user properties with a duplicate name, non-ASCII text and characters
    /// JSON must escape.
    static let allProperties: [MQTTTool.Property] = [
        .userProperty("device", "dev-1"),
        .contentType("application/json"),
        .userProperty("device", "dev-2"),
        .messageExpiryInterval(seconds: 3600),
        .userProperty("naïve ключ", #"wert "ü" \ 🚀"#),
        .responseTopic("replies/dev-1"),
        MQTTTool.Property(identifier: "correlation-data", values: ["req-42"]),
        .payloadFormatIndicator(utf8: true),
    ]

    /// `allProperties` as `data.properties` (members in the documented order, user properties in arrival order).
    static let allPropertiesJSON =
        #"{"user_properties":[["device","dev-1"],["device","dev-2"],["naïve ключ","wert \"ü\" \\ 🚀"]],"content_type":"application/json","message_expiry_interval":3600,"response_topic":"replies/dev-1","correlation_data_b64":"cmVxLTQy","payload_format_indicator":1}"#

    /// The exact `data.properties` text of an envelope, or nil when it has none.
    static func propertiesJSON(_ envelope: String) -> String? {
        guard let start = envelope.range(of: #","properties":"#),
            let end = envelope.range(of: #"},"metadata":{"position""#, range: start.upperBound..<envelope.endIndex)
        else { return nil }
        return String(envelope[start.upperBound..<end.lowerBound])
    }

    @Test func propertiesArriveInRecordsAndKeyThem() async throws {
        try await MosquittoBroker.with { broker in
            let v5 = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["m5/#"],
                    extra: ["qos: 1", "mqtt_version: v5", "key: property:device", "client_id: m5-v5"]
                )
            )
            // The same messages through MQTT 3.1.1, which has no properties.
            let v311 = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["m5/#"],
                    extra: ["qos: 1", "mqtt_version: v311", "key: property:device", "client_id: m5-v311"]
                )
            )
            try await v5.start()
            try await v311.start()
            let endpoint = broker.endpoint(protocolVersion: .v5)
            try await MQTTTool.publish(
                to: endpoint,
                topic: "m5/all",
                message: #"{"t":21.5}"#,
                qos: 1,
                properties: Self.allProperties
            )
            try await MQTTTool.publish(to: endpoint, topic: "m5/none", message: "plain", qos: 1)
            try await MQTTTool.publish(
                to: endpoint,
                topic: "m5/other",
                message: "x",
                qos: 1,
                properties: [.userProperty("site", "plant-a"), .userProperty("Device", "not-this-one")]
            )
            try await MQTTTool.publish(
                to: endpoint,
                topic: "m5/format",
                message: "y",
                qos: 1,
                properties: [.payloadFormatIndicator(utf8: false), .userProperty("device", "")]
            )

            #expect(await v5.waitForRecords(4).count == 4)
            let records = try await v5.logCat()
            try #require(records.count == 4)
            let values = records.compactMap { $0["value"] as? String }
            try #require(values.count == 4)
            #expect(Self.propertiesJSON(values[0]) == Self.allPropertiesJSON, "\(values[0])")
            #expect(Self.propertiesJSON(values[1]) == nil, "\(values[1])")
            #expect(!values[1].contains("properties"))
            #expect(
                Self.propertiesJSON(values[2]) == #"{"user_properties":[["site","plant-a"],["Device","not-this-one"]]}"#
            )
            #expect(
                Self.propertiesJSON(values[3])
                    == #"{"user_properties":[["device",""]],"payload_format_indicator":0}"#
            )
            // The first `device` property is the key; none without one (the name is case-sensitive); an empty value is
            // an empty key.
            #expect(records.map { $0["key"] as? String } == ["dev-1", nil, nil, ""])
            #expect(records[1]["key"] is NSNull)
            // The envelope stays valid JSON and the rivven-connect fields are untouched.
            let envelope = try #require(
                try JSONSerialization.jsonObject(with: Data(values[0].utf8)) as? [String: Any]
            )
            #expect(envelope[path: "data", "payload", "t"] as? Double == 21.5)
            #expect(envelope[path: "data", "properties", "payload_format_indicator"] as? Int == 1)
            #expect(envelope[path: "data", "metadata", "pkid"] as? Int != nil)

            #expect(await v311.waitForRecords(4).count == 4)
            let plain = try await v311.logCat()
            #expect(plain.count == 4)
            #expect(plain.allSatisfy { ($0["value"] as? String)?.contains(#""properties""#) == false })
            #expect(plain.allSatisfy { $0["key"] is NSNull })
            #expect(
                plain.compactMap { ($0["value"] as? String).flatMap(Self.topic) }
                    == ["m5/all", "m5/none", "m5/other", "m5/format"]
            )

            #expect(await v5.stop() == 0)
            #expect(await v311.stop() == 0)
        }
    }

    static func topic(_ envelope: String) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(envelope.utf8)) as? [String: Any]
        return object?[path: "data", "topic"] as? String
    }

    /// `run --output FILE`: the envelope line carries `data.properties`; a raw line has the property key and the bare
    /// payload.
    @Test func jsonLineOutputCarriesProperties() async throws {
        try await MosquittoBroker.with { broker in
            let envelope = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["out/#"],
                    extra: ["qos: 1", "mqtt_version: v5", "client_id: out-envelope"]
                )
            )
            let raw = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["out/#"],
                    extra: ["qos: 1", "mqtt_version: v5", "format: raw", "key: property:device", "client_id: out-raw"]
                )
            )
            let envelopeFile = envelope.directory.path + "/records.jsonl"
            let rawFile = raw.directory.path + "/records.jsonl"
            try await envelope.start(extraArguments: ["--output", envelopeFile])
            try await raw.start(extraArguments: ["--output", rawFile])
            try await MQTTTool.publish(
                to: broker.endpoint(protocolVersion: .v5),
                topic: "out/a",
                message: #"{"t":21.5}"#,
                qos: 1,
                properties: Self.allProperties
            )
            for file in [envelopeFile, rawFile] {
                let arrived = await Eventually.wait(timeout: .seconds(30)) {
                    !((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").isEmpty
                }
                #expect(arrived)
            }
            #expect(await envelope.stop() == 0)
            #expect(await raw.stop() == 0)
            let envelopeLines = try String(contentsOfFile: envelopeFile, encoding: .utf8).split(separator: "\n")
            try #require(envelopeLines.count == 1)
            #expect(Self.propertiesJSON(String(envelopeLines[0])) == Self.allPropertiesJSON, "\(envelopeLines[0])")
            let rawLines = try String(contentsOfFile: rawFile, encoding: .utf8).split(separator: "\n")
            try #require(rawLines.count == 1)
            #expect(
                rawLines[0].hasSuffix(#""topic":"out/a","qos":1,"retain":false,"key":"dev-1","value":"{\"t\":21.5}"}"#)
            )
        }
    }

    /// Session Expiry Interval: with `clean_session: false` the broker keeps the MQTT 5 session while the gateway is
    /// down and delivers what arrived meanwhile, properties included; with `clean_session: true` it keeps nothing.
    @Test func persistentSessionSurvivesARestart() async throws {
        try await MosquittoBroker.with { broker in
            let persistentYAML = Gateway.connectorYAML(
                url: broker.url,
                topics: ["ps/#"],
                extra: [
                    "qos: 1", "mqtt_version: v5", "clean_session: false", "key: property:seq", "client_id: ps-kept",
                ]
            )
            let cleanYAML = Gateway.connectorYAML(
                url: broker.url,
                topics: ["ps/#"],
                extra: ["qos: 1", "mqtt_version: v5", "clean_session: true", "client_id: ps-clean"]
            )
            let persistent = try Gateway(yaml: persistentYAML)
            let clean = try Gateway(yaml: cleanYAML)
            try await persistent.start()
            try await clean.start()
            #expect(await persistent.stop() == 0)
            #expect(await clean.stop() == 0)

            let endpoint = broker.endpoint(protocolVersion: .v5)
            for seq in 1...3 {
                try await MQTTTool.publish(
                    to: endpoint,
                    topic: "ps/down",
                    message: "while-down-\(seq)",
                    qos: 1,
                    properties: [.userProperty("seq", "\(seq)"), .messageExpiryInterval(seconds: 600)]
                )
            }

            let persistentAgain = Gateway(reusing: persistent.directory)
            try await persistentAgain.start()
            #expect(persistentAgain.process.stderrText.contains("mqtt.session_present=true"))
            let cleanAgain = Gateway(reusing: clean.directory)
            try await cleanAgain.start()
            #expect(cleanAgain.process.stderrText.contains("mqtt.session_present=false"))
            try await MQTTTool.publish(to: endpoint, topic: "ps/up", message: "after", qos: 1)

            #expect(await persistentAgain.waitForRecords(4).count == 4)
            let records = try await persistentAgain.logCat()
            try #require(records.count == 4)
            #expect(records.map { $0["key"] as? String } == ["1", "2", "3", nil])
            let values = records.compactMap { $0["value"] as? String }
            #expect(values.compactMap(Self.topic) == ["ps/down", "ps/down", "ps/down", "ps/up"])
            for (index, value) in values.prefix(3).enumerated() {
                let properties = try #require(Self.propertiesJSON(value), "\(value)")
                // The broker forwards the time left, which shrank while the gateway was away.
                let prefix = #"{"user_properties":[["seq","\#(index + 1)"]],"message_expiry_interval":"#
                #expect(properties.hasPrefix(prefix), "\(properties)")
                let seconds = Int(properties.dropFirst(prefix.count).dropLast())
                #expect(seconds.map { (1...600).contains($0) } == true, "\(properties)")
            }
            #expect(Self.propertiesJSON(values[3]) == nil)

            // Nothing was kept for the clean session: only the message published after it reconnected. (Had the
            // broker kept its session, the queued messages would have been delivered before that one.)
            var cleanTopics: [String] = []
            let afterArrived = await Eventually.wait(timeout: .seconds(30)) {
                cleanTopics = ((try? await cleanAgain.logCat()) ?? []).compactMap {
                    ($0["value"] as? String).flatMap(Self.topic)
                }
                return cleanTopics.contains("ps/up")
            }
            #expect(afterArrived)
            #expect(cleanTopics == ["ps/up"])

            #expect(await persistentAgain.stop() == 0)
            #expect(await cleanAgain.stop() == 0)
        }
    }
}
