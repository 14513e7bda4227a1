import FastIngest
import Foundation
import Testing

@Suite("DeadLetterEncoder")
struct MappingDeadLetterTests {
    static let time = WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789)

    static func encode(
        connector: String = "mqtt-source",
        originalTopic: String = "iot-events",
        mqttTopic: [UInt8] = Array("sensors/room1".utf8),
        payload: [UInt8] = Array("hi".utf8),
        error: String = "payload of 2 bytes exceeds max_payload_bytes 1",
        retryCount: UInt32 = 0,
        at time: WallClockTime = time,
        prefix: [UInt8] = []
    ) -> [UInt8] {
        var out = prefix
        let encoder = DeadLetterEncoder(connectorName: connector)
        Array(originalTopic.utf8).withUnsafeBytes { original in
            mqttTopic.withUnsafeBytes { mqtt in
                payload.withUnsafeBytes { payloadBytes in
                    encoder.append(
                        originalTopic: original,
                        mqttTopic: mqtt,
                        payload: payloadBytes,
                        error: error,
                        retryCount: retryCount,
                        deadLetteredAt: time,
                        into: &out
                    )
                }
            }
        }
        return out
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var note: String
        var bytes: [UInt8]
        var expected: String
        var testDescription: String { note }
    }

    static let cases: [Case] = [
        Case(
            note: "the example",
            bytes: encode(),
            expected: #"{"original_topic":"iot-events","connector_name":"mqtt-source","payload_b64":"aGk=","#
                + #""error":"payload of 2 bytes exceeds max_payload_bytes 1","retry_count":0,"#
                + #""timestamp":"2026-11-25T12:00:00.123456789+00:00","mqtt_topic":"sensors/room1"}"#
        ),
        Case(
            note: "binary payload, whole second, retry count",
            bytes: encode(
                payload: [0x00, 0xFF, 0x01],
                retryCount: 3,
                at: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_000_000_000)
            ),
            expected: #"{"original_topic":"iot-events","connector_name":"mqtt-source","payload_b64":"AP8B","#
                + #""error":"payload of 2 bytes exceeds max_payload_bytes 1","retry_count":3,"#
                + #""timestamp":"2026-11-25T12:00:00+00:00","mqtt_topic":"sensors/room1"}"#
        ),
        Case(
            note: "empty payload, milliseconds",
            bytes: encode(payload: [], at: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_120_000_000)),
            expected: #"{"original_topic":"iot-events","connector_name":"mqtt-source","payload_b64":"","#
                + #""error":"payload of 2 bytes exceeds max_payload_bytes 1","retry_count":0,"#
                + #""timestamp":"2026-11-25T12:00:00.120+00:00","mqtt_topic":"sensors/room1"}"#
        ),
        Case(
            note: "escaping like serde_json",
            bytes: encode(
                connector: "src \"a\"\\b",
                mqttTopic: Array("été/😀/\u{1}".utf8),
                payload: Array("abcd".utf8),
                error: "line\nbreak\ttab/slash",
                at: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_000_123_000)
            ),
            expected: #"{"original_topic":"iot-events","connector_name":"src \"a\"\\b","payload_b64":"YWJjZA==","#
                + #""error":"line\nbreak\ttab/slash","retry_count":0,"#
                + #""timestamp":"2026-11-25T12:00:00.000123+00:00","mqtt_topic":"été/😀/\u0001"}"#
        ),
        Case(
            note: "appended after existing bytes",
            bytes: encode(prefix: Array("[".utf8)),
            expected: #"[{"original_topic":"iot-events","connector_name":"mqtt-source","payload_b64":"aGk=","#
                + #""error":"payload of 2 bytes exceeds max_payload_bytes 1","retry_count":0,"#
                + #""timestamp":"2026-11-25T12:00:00.123456789+00:00","mqtt_topic":"sensors/room1"}"#
        ),
    ]

    @Test(arguments: cases)
    func exactBytes(_ row: Case) {
        #expect(String(decoding: row.bytes, as: UTF8.self) == row.expected)
    }

    /// Parsed back with Foundation: every field with its type, in rivven-connect's order plus `mqtt_topic`.
    @Test func parsesBack() throws {
        let payload: [UInt8] = (0...255).map { UInt8($0) }
        let bytes = Self.encode(
            mqttTopic: Array("plant/é/line\"1\"".utf8),
            payload: payload,
            error: "routing \"failed\"",
            retryCount: 7
        )
        let object = try #require(MappingTestSupport.object(bytes))
        #expect(object.count == 7)
        #expect(object["original_topic"] as? String == "iot-events")
        #expect(object["connector_name"] as? String == "mqtt-source")
        let encoded = try #require(object["payload_b64"] as? String)
        #expect(Data(base64Encoded: encoded).map(Array.init) == payload)
        #expect(object["error"] as? String == "routing \"failed\"")
        #expect(object["retry_count"] as? Int == 7)
        #expect(object["timestamp"] as? String == "2026-11-25T12:00:00.123456789+00:00")
        #expect(object["mqtt_topic"] as? String == "plant/é/line\"1\"")
        #expect(
            MappingTestSupport.keyOrder(String(decoding: Self.encode(), as: UTF8.self)) == [
                "original_topic", "connector_name", "payload_b64", "error", "retry_count", "timestamp", "mqtt_topic",
            ]
        )
    }

    /// A timestamp Foundation reads as the same instant (to the microsecond it keeps).
    @Test func timestampIsTheGivenInstant() throws {
        let object = try #require(MappingTestSupport.object(Self.encode()))
        let text = try #require(object["timestamp"] as? String)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: text))
        #expect(abs(date.timeIntervalSince1970 - 1_795_608_000.123_456_789) < 0.001)
    }

    /// A topic that is not UTF-8 (MQTT forbids it) still gives valid JSON.
    @Test func invalidUTF8TopicStaysJSON() throws {
        let bytes = Self.encode(mqttTopic: [0x61, 0xFF, 0x62])
        let object = try #require(MappingTestSupport.object(bytes))
        #expect(object["mqtt_topic"] as? String == "a\u{FFFD}b")
    }
}
