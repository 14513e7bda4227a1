import FastIngest
import Foundation
import Testing

@Suite("EnvelopeEncoder")
struct EnvelopeEncoderTests {
    /// EVENT_FORMAT.md §4, byte for byte.
    static let example =
        #"{"event_type":"record","stream":"sensors_room1_temperature","namespace":null,"timestamp":"2026-11-25T12:00:00.123456789Z","data":{"topic":"sensors/room1/temperature","payload":{"c":21.5},"qos":1,"retain":false,"timestamp":"2026-11-25T12:00:00.123451234+00:00","metadata":{"client_id":"rivven-gw-1","broker":"mqtt://localhost:1883","message_id":1,"pkid":1}},"metadata":{"position":"1","mqtt.topic":"sensors/room1/temperature","mqtt.qos":1}}"#

    static func exampleEncoder(parse: Bool = true, metadata: Bool = true) -> EnvelopeEncoder {
        EnvelopeEncoder(
            brokerURL: "mqtt://localhost:1883",
            clientID: "rivven-gw-1",
            parseJSONPayload: parse,
            includeMetadata: metadata
        )
    }

    @Test func eventFormatExampleByteForByte() throws {
        var encoder = Self.exampleEncoder()
        let bytes = EnvelopeTestSupport.encode(
            &encoder,
            topic: "sensors/room1/temperature",
            payload: Array(#"{"c":21.5}"#.utf8),
            qos: 1,
            retain: false,
            pkid: 1,
            receivedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_451_234),
            encodedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789)
        )
        #expect(String(decoding: bytes, as: UTF8.self) == Self.example)
        #expect(bytes.count == 439)
        #expect(encoder.messageCount == 1)
        let object = try #require(EnvelopeTestSupport.foundationParse(bytes) as? [String: Any])
        #expect(object["event_type"] as? String == "record")
        #expect(object["namespace"] is NSNull)
        let data = try #require(object["data"] as? [String: Any])
        let payload = try #require(data["payload"] as? [String: Any])
        #expect(payload["c"] as? Double == 21.5)
    }

    @Test func appendsAfterExistingBytesAndReusesCapacity() {
        var encoder = Self.exampleEncoder()
        var out: [UInt8] = Array("X".utf8)
        let topic = Array("sensors/room1/temperature".utf8)
        let payload = Array(#"{"c":21.5}"#.utf8)
        topic.withUnsafeBytes { t in
            payload.withUnsafeBytes { p in
                encoder.encode(
                    topic: t,
                    payload: p,
                    qos: 1,
                    retain: false,
                    pkid: 1,
                    receivedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_451_234),
                    encodedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789),
                    into: &out
                )
            }
        }
        #expect(out.first == UInt8(ascii: "X"))
        #expect(String(decoding: out.dropFirst(), as: UTF8.self) == Self.example)
    }

    @Test func counterIncreasesAcrossCalls() throws {
        var encoder = Self.exampleEncoder()
        for expected in 1...3 {
            let bytes = EnvelopeTestSupport.encode(&encoder, topic: "a/b", payload: Array("1".utf8))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains(#""message_id":\#(expected),"pkid":1}"#))
            #expect(text.contains(#""metadata":{"position":"\#(expected)","mqtt.topic""#))
            let object = try #require(EnvelopeTestSupport.foundationParse(bytes) as? [String: Any])
            let metadata = try #require(object["metadata"] as? [String: Any])
            #expect(metadata["position"] as? String == "\(expected)")
            #expect(encoder.messageCount == UInt64(expected))
        }
    }

    @Test func parseJSONPayloadFalseAlwaysWritesAString() {
        var encoder = Self.exampleEncoder(parse: false)
        let bytes = EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array(#"{"c":21.5}"#.utf8))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""payload":"{\"c\":21.5}","qos":1"#))
        let number = EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array("42".utf8))
        #expect(String(decoding: number, as: UTF8.self).contains(#""payload":"42","qos""#))
    }

    @Test func includeMetadataFalseOmitsDataMetadata() {
        var encoder = Self.exampleEncoder(metadata: false)
        let bytes = EnvelopeTestSupport.encode(
            &encoder,
            topic: "sensors/room1/temperature",
            payload: Array(#"{"c":21.5}"#.utf8)
        )
        let expected =
            #"{"event_type":"record","stream":"sensors_room1_temperature","namespace":null,"timestamp":"2026-11-25T12:00:00.123456789Z","data":{"topic":"sensors/room1/temperature","payload":{"c":21.5},"qos":1,"retain":false,"timestamp":"2026-11-25T12:00:00.123451234+00:00"},"metadata":{"position":"1","mqtt.topic":"sensors/room1/temperature","mqtt.qos":1}}"#
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test func invalidUTF8PayloadGetsLossyStringAndExactBase64() throws {
        var encoder = Self.exampleEncoder()
        let payload: [UInt8] = [0x00, 0xFF, 0x41, 0xED, 0xA0, 0x80, 0xC3, 0xA9, 0x22, 0x0A, 0x80]
        let bytes = EnvelopeTestSupport.encode(&encoder, topic: "bin", payload: payload)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(
            text.contains(
                "\"payload\":\"\\u0000\u{FFFD}A\u{FFFD}\u{FFFD}\u{FFFD}é\\\"\\n\u{FFFD}\",\"payload_b64\":\"AP9B7aCAw6kiCoA=\",\"qos\":1"
            )
        )
        let object = try #require(EnvelopeTestSupport.foundationParse(bytes) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        let b64 = try #require(data["payload_b64"] as? String)
        #expect(Data(base64Encoded: b64).map(Array.init) == payload)
        let keys = try #require(Self.dataKeys(text))
        #expect(keys == ["topic", "payload", "payload_b64", "qos", "retain", "timestamp", "metadata"])
    }

    @Test func binaryPayloadRoundTripsThroughBase64() throws {
        var encoder = Self.exampleEncoder(parse: false)
        let payload = (0...255).map { UInt8($0) }
        let bytes = EnvelopeTestSupport.encode(&encoder, topic: "bin", payload: payload)
        let object = try #require(EnvelopeTestSupport.foundationParse(bytes) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        let b64 = try #require(data["payload_b64"] as? String)
        #expect(Data(base64Encoded: b64).map(Array.init) == payload)
    }

    @Test(arguments: [true, false])
    func validUTF8PayloadHasNoBase64(parse: Bool) {
        var encoder = Self.exampleEncoder(parse: parse)
        for payload in ["", "hello", "é😀", "{not json", "\u{7F}"] {
            let bytes = EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array(payload.utf8))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("payload_b64"), "\(payload)")
            #expect(EnvelopeTestSupport.foundationParse(bytes) != nil)
        }
    }

    @Test(arguments: [true, false])
    func emptyPayloadIsEmptyString(parse: Bool) {
        var encoder = Self.exampleEncoder(parse: parse)
        let text = String(decoding: EnvelopeTestSupport.encode(&encoder, topic: "t", payload: []), as: UTF8.self)
        #expect(text.contains(#""payload":"","qos":1"#))
    }

    @Test func jsonScalarsAndTextPayloads() {
        var encoder = Self.exampleEncoder()
        let cases: [(String, String)] = [
            (#""text""#, #""payload":"text","qos""#),
            ("true", #""payload":true,"qos""#),
            ("null", #""payload":null,"qos""#),
            (" 42\n", #""payload":42,"qos""#),
            ("hello", #""payload":"hello","qos""#),
            (#"{"a":1,}"#, #""payload":"{\"a\":1,}","qos""#),
            ("1e400", #""payload":"1e400","qos""#),
        ]
        for (payload, fragment) in cases {
            let text = String(
                decoding: EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array(payload.utf8)),
                as: UTF8.self
            )
            #expect(text.contains(fragment), "\(payload): \(text)")
        }
    }

    @Test func qosRetainPkidAndEscapedStrings() throws {
        var encoder = EnvelopeEncoder(
            brokerURL: "mqtt://h:1883/\"x\"",
            clientID: "c\\1",
            parseJSONPayload: true,
            includeMetadata: true
        )
        let bytes = EnvelopeTestSupport.encode(
            &encoder,
            topic: "a\"b/c d/é",
            payload: Array("{}".utf8),
            qos: 2,
            retain: true,
            pkid: 65535
        )
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""stream":"a\"b_c d_é","namespace""#))
        #expect(text.contains(#""topic":"a\"b/c d/é","payload":{},"qos":2,"retain":true,"timestamp""#))
        #expect(text.contains(#""client_id":"c\\1","broker":"mqtt://h:1883/\"x\"","message_id":1,"pkid":65535}"#))
        #expect(text.hasSuffix(#""mqtt.topic":"a\"b/c d/é","mqtt.qos":2}}"#))
        let object = try #require(EnvelopeTestSupport.foundationParse(bytes) as? [String: Any])
        #expect(object["stream"] as? String == "a\"b_c d_é")
    }

    @Test func topLevelKeyOrder() throws {
        var encoder = Self.exampleEncoder()
        let text = String(
            decoding: EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array("1".utf8)),
            as: UTF8.self
        )
        // Top-level keys in struct order; checked on the raw text because Foundation dictionaries are unordered.
        var last = text.startIndex
        for key in [
            #""event_type""#, #""stream""#, #""namespace""#, #""timestamp""#, #""data""#, #""metadata":{"position""#,
        ] {
            let range = try #require(text.range(of: key, range: last..<text.endIndex))
            last = range.upperBound
        }
    }

    @Test func timestampsFollowTheClockAcrossSeconds() {
        // The encoder caches the date-time text per second; every message must still carry its own times.
        var encoder = Self.exampleEncoder()
        let times: [Int64] = [
            1_795_608_000_123_456_789, 1_795_608_000_999_999_999, 1_795_608_001_000_000_000, 1_795_608_001_000_001_000,
            1_795_607_999_500_000_000, 1_709_251_199_999_999_999, 1_709_251_200_000_000_001, 0, -1,
        ]
        for (received, encoded) in zip(times, times.dropFirst() + [42]) {
            let bytes = EnvelopeTestSupport.encode(
                &encoder,
                topic: "t",
                payload: Array("1".utf8),
                receivedAt: WallClockTime(nanosecondsSinceEpoch: received),
                encodedAt: WallClockTime(nanosecondsSinceEpoch: encoded)
            )
            var top: [UInt8] = []
            RFC3339.append(WallClockTime(nanosecondsSinceEpoch: encoded), zulu: true, to: &top)
            var data: [UInt8] = []
            RFC3339.append(WallClockTime(nanosecondsSinceEpoch: received), zulu: false, to: &data)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains(#""namespace":null,"timestamp":"\#(String(decoding: top, as: UTF8.self))","data""#))
            #expect(
                text.contains(#""retain":false,"timestamp":"\#(String(decoding: data, as: UTF8.self))","metadata""#)
            )
        }
    }

    @Test func worstCaseExpansionsFitAndStayValid() throws {
        // The encoder reserves an upper bound before writing; these inputs sit at or near each bound.
        let floats = "[" + Array(repeating: "1e5", count: 200).joined(separator: ",") + "]"
        let payloads: [[UInt8]] = [
            Array("1e5".utf8), Array("9e15".utf8), Array("-0".utf8), Array(floats.utf8),
            Array("-2.2250738585072014e-308".utf8), Array("-1.2345678901234567e-5".utf8),
            Array(repeating: 0x01, count: 300), Array(repeating: 0xFF, count: 300), Array(repeating: 0x22, count: 50),
            [],
        ]
        let topics = [String(repeating: "+", count: 40), String(repeating: "\u{01}#", count: 20), "", "é"]
        for parse in [true, false] {
            var encoder = Self.exampleEncoder(parse: parse)
            for topic in topics {
                for payload in payloads {
                    let bytes = EnvelopeTestSupport.encode(&encoder, topic: topic, payload: payload)
                    #expect(EnvelopeTestSupport.foundationParse(bytes) != nil)
                }
            }
        }
        #expect(EnvelopeTestSupport.canonical("1e5") == "100000.0")
        #expect(EnvelopeTestSupport.canonical("9e15") == "9000000000000000.0")
        #expect(EnvelopeTestSupport.canonical("-2.2250738585072014e-308") == "-2.2250738585072014e-308")
        // serde_json reads this one ulp high (checked against serde_json itself): 24 characters either way.
        #expect(EnvelopeTestSupport.canonical("-1.2345678901234567e-5") == "-0.000012345678901234568")
        #expect(
            EnvelopeTestSupport.canonical(floats) == "["
                + Array(repeating: "100000.0", count: 200).joined(separator: ",") + "]"
        )
    }

    /// Keys of the `data` object in order (a small scan that is enough for these test outputs).
    static func dataKeys(_ text: String) -> [String]? {
        guard let start = text.range(of: #""data":{"#) else { return nil }
        var keys: [String] = []
        var depth = 1
        var inString = false
        var escaped = false
        var current = ""
        var expectingKey = true
        for ch in text[start.upperBound...] {
            if inString {
                if escaped {
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else if ch == "\"" {
                    inString = false
                    if depth == 1 && expectingKey { keys.append(current) }
                    continue
                }
                current.append(ch)
                continue
            }
            switch ch {
            case "\"":
                inString = true
                current = ""
            case ":": if depth == 1 { expectingKey = false }
            case ",": if depth == 1 { expectingKey = true }
            case "{", "[": depth += 1
            case "}", "]":
                depth -= 1
                if depth == 0 { return keys }
            default: break
            }
        }
        return keys
    }
}

@Suite("StreamName")
struct EnvelopeStreamNameTests {
    @Test(arguments: [
        ("sensors/+/temp", "sensors__single_temp"),
        ("#", "_multi"),
        ("a/#", "a__multi"),
        ("+/+", "_single__single"),
        ("sensors/room1/temperature", "sensors_room1_temperature"),
        ("plain", "plain"),
        ("/leading/", "_leading_"),
        ("é/ü", "é_ü"),
        ("", ""),
    ])
    func normalize(_ input: String, _ expected: String) {
        #expect(StreamName.normalize(input) == expected)
    }

    @Test func encoderUsesTheSameMapping() {
        var encoder = EnvelopeEncoder(brokerURL: "b", clientID: "c", parseJSONPayload: true, includeMetadata: true)
        for topic in ["a/b/c", "x+y#z", "/"] {
            let text = String(decoding: EnvelopeTestSupport.encode(&encoder, topic: topic, payload: []), as: UTF8.self)
            #expect(text.contains(#""stream":"\#(StreamName.normalize(topic))","namespace""#))
        }
    }
}

@Suite("Base64")
struct EnvelopeBase64Tests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(_ input: String, _ expected: String) {
        var out: [UInt8] = []
        Array(input.utf8).withUnsafeBytes { Base64.append($0, to: &out) }
        #expect(String(decoding: out, as: UTF8.self) == expected)
    }

    @Test func matchesFoundationForAllByteValuesAndLengths() {
        let all = (0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) }
        for length in [0, 1, 2, 3, 61, 62, 63, 64, 255, 511, 512] {
            let bytes = Array(all.prefix(length))
            var out: [UInt8] = []
            bytes.withUnsafeBytes { Base64.append($0, to: &out) }
            #expect(String(decoding: out, as: UTF8.self) == Data(bytes).base64EncodedString())
        }
    }
}
