import Foundation
import Testing

@testable import FastIngest

@Suite("RecordMapper")
struct MappingRecordMapperTests {
    static let now = WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789)

    struct Outcome {
        var decision: MappingDecision
        var topic: String
        var key: [UInt8]
        var value: [UInt8]
    }

    static func mapper(
        template: String? = nil,
        deadLetterTopic: String? = "iot-dlq",
        maxPayloadBytes: Int = 10
    ) throws -> RecordMapper {
        try RecordMapper(
            router: TopicRouter(staticTopic: "iot-events", template: template),
            deadLetterTopic: deadLetterTopic,
            maxPayloadBytes: maxPayloadBytes,
            connectorName: "plant-a"
        )
    }

    /// Maps one record into buffers that start with stale contents (the mapper must replace them).
    static func map(
        _ mapper: RecordMapper,
        topic: String = "sensors/room1",
        key: [UInt8]? = nil,
        value: [UInt8],
        envelope: Bool = false
    ) -> Outcome {
        var topicBuffer: [UInt8] = Array("stale-topic".utf8)
        var keyBuffer: [UInt8] = Array("stale-key".utf8)
        var valueBuffer: [UInt8] = Array("stale-value".utf8)
        let decision = MappingTestSupport.withInput(topic: topic, key: key, value: value, envelope: envelope) {
            mapper.map($0, now: now, topic: &topicBuffer, key: &keyBuffer, value: &valueBuffer)
        }
        return Outcome(
            decision: decision,
            topic: String(decoding: topicBuffer, as: UTF8.self),
            key: keyBuffer,
            value: valueBuffer
        )
    }

    static func dlq(original: String, error: String, payload: [UInt8], mqttTopic: String = "sensors/room1") -> String {
        #"{"original_topic":""# + original + #"","connector_name":"plant-a","payload_b64":""#
            + Data(payload).base64EncodedString() + #"","error":""# + error + #"","retry_count":0,"#
            + #""timestamp":"2026-11-25T12:00:00.123456789+00:00","mqtt_topic":""# + mqttTopic + #""}"#
    }

    // MARK: Publish

    @Test func publishesToTheStaticTopic() throws {
        let outcome = Self.map(try Self.mapper(), value: Array("hello".utf8))
        #expect(outcome.decision == .publish(hasKey: false))
        #expect(outcome.topic == "iot-events")
        #expect(outcome.key.isEmpty)
        #expect(outcome.value.isEmpty, "the stored value is published as is, not copied")
    }

    @Test func publishesTheStoredKey() throws {
        let outcome = Self.map(try Self.mapper(), key: Array("sensors/room1".utf8), value: Array("hello".utf8))
        #expect(outcome.decision == .publish(hasKey: true))
        #expect(outcome.key == Array("sensors/room1".utf8))
    }

    @Test func anEmptyStoredKeyIsAKey() throws {
        let outcome = Self.map(try Self.mapper(), key: [], value: [])
        #expect(outcome.decision == .publish(hasKey: true))
        #expect(outcome.key.isEmpty)
    }

    @Test func routes() throws {
        let outcome = Self.map(try Self.mapper(template: "iot.{1}"), topic: "sensors/room1", value: [1, 2])
        #expect(outcome.decision == .publish(hasKey: false))
        #expect(outcome.topic == "iot.sensors")
    }

    @Test(arguments: [0, 1, 9, 10])
    func atOrBelowTheLimitIsPublished(_ size: Int) throws {
        let outcome = Self.map(try Self.mapper(maxPayloadBytes: 10), value: [UInt8](repeating: 0x41, count: size))
        #expect(outcome.decision == .publish(hasKey: false))
    }

    // MARK: Dead letters

    @Test func oversizeIsDeadLettered() throws {
        let payload = Array("hello world".utf8)
        let outcome = Self.map(try Self.mapper(template: "iot.{1}"), key: [1], value: payload)
        let reason = "payload of 11 bytes exceeds max_payload_bytes 10"
        #expect(outcome.decision == .deadLetter(MappingProblem(.oversize, reason)))
        #expect(outcome.topic == "iot-dlq")
        #expect(outcome.key.isEmpty, "dead-letter records have no key")
        #expect(
            String(decoding: outcome.value, as: UTF8.self)
                == Self.dlq(original: "iot.sensors", error: reason, payload: payload)
        )
    }

    @Test func oversizeWithoutDeadLetterTopicIsDropped() throws {
        let outcome = Self.map(try Self.mapper(deadLetterTopic: nil), key: [1], value: Array("hello world".utf8))
        #expect(
            outcome.decision == .drop(MappingProblem(.oversize, "payload of 11 bytes exceeds max_payload_bytes 10"))
        )
        #expect(outcome.topic.isEmpty)
        #expect(outcome.key.isEmpty)
        #expect(outcome.value.isEmpty)
    }

    @Test func badRoutingIsDeadLettered() throws {
        let outcome = Self.map(try Self.mapper(template: "iot.{3}"), topic: "a/b", value: Array("x".utf8))
        guard case .deadLetter(let problem) = outcome.decision else {
            Issue.record("expected a dead letter, got \(outcome.decision)")
            return
        }
        #expect(problem.code == .unroutable)
        #expect(problem.reason.contains("needs level 3"))
        #expect(outcome.topic == "iot-dlq")
        let object = try #require(MappingTestSupport.object(outcome.value))
        #expect(object["original_topic"] as? String == "iot-events", "routing failed: the static topic is named")
        #expect(object["error"] as? String == problem.reason)
        #expect(object["mqtt_topic"] as? String == "a/b")
        #expect(object["connector_name"] as? String == "plant-a")
        #expect(object["payload_b64"] as? String == "eA==")
    }

    @Test func badRoutingWithoutDeadLetterTopicIsDropped() throws {
        let outcome = Self.map(try Self.mapper(template: "{topic}", deadLetterTopic: nil), topic: "/a", value: [])
        guard case .drop(let problem) = outcome.decision else {
            Issue.record("expected a drop, got \(outcome.decision)")
            return
        }
        #expect(problem.code == .unroutable)
        #expect(problem.reason.contains("`.a`"))
        #expect(outcome.topic.isEmpty && outcome.value.isEmpty)
    }

    @Test func routingIsCheckedBeforeSize() throws {
        let outcome = Self.map(try Self.mapper(template: "{2}"), topic: "a", value: [UInt8](repeating: 0, count: 50))
        guard case .deadLetter(let problem) = outcome.decision else {
            Issue.record("expected a dead letter, got \(outcome.decision)")
            return
        }
        #expect(problem.code == .unroutable)
    }

    // MARK: Envelopes

    static func envelope(_ payload: [UInt8], parse: Bool = true) -> [UInt8] {
        var encoder = EnvelopeEncoder(
            brokerURL: "mqtt://localhost:1883",
            clientID: "rivven-gw-1",
            parseJSONPayload: parse,
            includeMetadata: true
        )
        return EnvelopeTestSupport.encode(&encoder, topic: "sensors/room1", payload: payload)
    }

    struct EnvelopeCase: Sendable, CustomTestStringConvertible {
        var note: String
        var payload: [UInt8]
        var parse: Bool = true
        /// The size the mapper measures.
        var measured: Int
        var testDescription: String { note }
    }

    static let envelopeCases: [EnvelopeCase] = [
        EnvelopeCase(note: "text", payload: Array("hello, world".utf8), measured: 12),
        EnvelopeCase(note: "text with escapes", payload: Array("a\"b\\c\nd\u{1}é".utf8), measured: 10),
        EnvelopeCase(note: "JSON text without parsing", payload: Array(#"{"a": 1}"#.utf8), parse: false, measured: 8),
        EnvelopeCase(note: "JSON string", payload: Array(#""abc""#.utf8), measured: 3),
        EnvelopeCase(note: "JSON object, measured compact", payload: Array(#"{ "a" : [1, 2] }"#.utf8), measured: 11),
        EnvelopeCase(note: "JSON number", payload: Array("1e2".utf8), measured: 5),
        EnvelopeCase(note: "binary payload: exact, from payload_b64", payload: [0xFF, 0x00, 0xFE], measured: 3),
        EnvelopeCase(note: "binary payload of 1 byte", payload: [0xFF], measured: 1),
        EnvelopeCase(note: "binary payload of 2 bytes", payload: [0xFF, 0xFF], measured: 2),
        EnvelopeCase(note: "binary payload of 100 bytes", payload: [UInt8](repeating: 0x80, count: 100), measured: 100),
        EnvelopeCase(note: "empty payload", payload: [], measured: 0),
    ]

    @Test(arguments: envelopeCases)
    func envelopePayloadSize(_ row: EnvelopeCase) {
        let envelope = Self.envelope(row.payload, parse: row.parse)
        let measured = envelope.withUnsafeBytes { RecordMapper.envelopePayloadSize($0) }
        #expect(measured == row.measured)
    }

    /// The limit applies to the payload inside the envelope, not to the envelope.
    @Test(arguments: [(99, true), (100, true), (101, false)])
    func envelopeLimit(_ size: Int, _ published: Bool) throws {
        let mapper = try Self.mapper(maxPayloadBytes: 100)
        let value = Self.envelope([UInt8](repeating: UInt8(ascii: "x"), count: size))
        #expect(value.count > 100)
        let outcome = Self.map(mapper, value: value, envelope: true)
        if published {
            #expect(outcome.decision == .publish(hasKey: false))
        } else {
            #expect(
                outcome.decision
                    == .deadLetter(MappingProblem(.oversize, "payload of 101 bytes exceeds max_payload_bytes 100"))
            )
            let object = try #require(MappingTestSupport.object(outcome.value))
            let encoded = try #require(object["payload_b64"] as? String)
            #expect(Data(base64Encoded: encoded).map(Array.init) == value, "the DLQ record carries the stored value")
        }
    }

    /// A value flagged as an envelope that is not one is measured whole.
    @Test func unreadableEnvelopeIsMeasuredWhole() throws {
        let outcome = Self.map(
            try Self.mapper(maxPayloadBytes: 10),
            value: Array("not an envelope".utf8),
            envelope: true
        )
        #expect(
            outcome.decision
                == .deadLetter(MappingProblem(.oversize, "payload of 15 bytes exceeds max_payload_bytes 10"))
        )
        let value = Array(#"{"data":{"topic":"x"},"pad":"0123456789"}"#.utf8)
        #expect(
            Self.map(try Self.mapper(maxPayloadBytes: 10), value: value, envelope: true).decision
                != .publish(hasKey: false)
        )
    }

    // MARK: Construction

    @Test func fromSourceConfiguration() throws {
        let yaml = """
            type: mqtt-source
            name: plant-a
            topic: iot-events
            config:
              broker_url: mqtt://broker.local:1883
              topics: ["sensors/#"]
              topic_routing: "iot.{1}"
              dead_letter_topic: iot-dlq
              max_payload_bytes: 10
            """
        let configuration = try IngestConfiguration.parse(yaml: yaml, environment: [:], hostName: "gw")
        let mapper = try RecordMapper(source: try #require(configuration.sources.first))
        #expect(mapper.router.staticTopic == "iot-events")
        #expect(mapper.router.template == "iot.{1}")
        #expect(mapper.deadLetterTopic == "iot-dlq")
        #expect(mapper.maxPayloadBytes == 10)
        let outcome = Self.map(mapper, value: Array("hello world".utf8))
        let object = try #require(MappingTestSupport.object(outcome.value))
        #expect(object["connector_name"] as? String == configuration.sources[0].name)
        #expect(object["original_topic"] as? String == "iot.sensors")
    }

    @Test func badDeadLetterTopicIsRejected() {
        #expect {
            _ = try Self.mapper(deadLetterTopic: "dlq/topic")
        } throws: { error in
            (error as? MappingError)?.code == .invalidTopicName
        }
    }
}
