import FastIngest
import Foundation
import Testing

/// `data.properties`: the MQTT 5 properties of a message, after the rivven-connect fields of `data`.
@Suite("EnvelopeEncoder properties")
struct EnvelopePropertiesTests {
    /// `PropertyFixture.full` as JSON.
    static let fullJSON =
        #","properties":{"user_properties":[["device","dev-1"],["device","dev-2"],["naïve ключ","wert \"ü\" \\ 🚀"]],"content_type":"application/json","message_expiry_interval":3600,"response_topic":"replies/dev-1","correlation_data_b64":"AP8QgEE=","payload_format_indicator":1}"#

    /// EVENT_FORMAT.md §4's example with every property, byte for byte.
    static let example =
        #"{"event_type":"record","stream":"sensors_room1_temperature","namespace":null,"timestamp":"2026-11-25T12:00:00.123456789Z","data":{"topic":"sensors/room1/temperature","payload":{"c":21.5},"qos":1,"retain":false,"timestamp":"2026-11-25T12:00:00.123451234+00:00","metadata":{"client_id":"rivven-gw-1","broker":"mqtt://localhost:1883","message_id":1,"pkid":1},"properties":{"user_properties":[["device","dev-1"],["device","dev-2"],["naïve ключ","wert \"ü\" \\ 🚀"]],"content_type":"application/json","message_expiry_interval":3600,"response_topic":"replies/dev-1","correlation_data_b64":"AP8QgEE=","payload_format_indicator":1}},"metadata":{"position":"1","mqtt.topic":"sensors/room1/temperature","mqtt.qos":1}}"#

    static func encode(
        _ encoder: inout EnvelopeEncoder,
        properties: [PropertyFixture],
        topic: String = "sensors/room1/temperature",
        payload: String = #"{"c":21.5}"#
    ) -> String {
        var out: [UInt8] = []
        let block = PropertyFixture.block(properties)
        Array(topic.utf8).withUnsafeBytes { t in
            Array(payload.utf8).withUnsafeBytes { p in
                block.withUnsafeBytes { b in
                    encoder.encode(
                        topic: t,
                        payload: p,
                        properties: b,
                        qos: 1,
                        retain: false,
                        pkid: 1,
                        receivedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_451_234),
                        encodedAt: WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789),
                        into: &out
                    )
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The rivven-connect example with `properties` (JSON text, leading comma) inserted at the end of `data`.
    static func exampleWith(_ properties: String, metadata: Bool = true) -> String {
        var base = EnvelopeEncoderTests.example
        if !metadata {
            base = base.replacingOccurrences(
                of:
                    #","metadata":{"client_id":"rivven-gw-1","broker":"mqtt://localhost:1883","message_id":1,"pkid":1}"#,
                with: ""
            )
        }
        let end = base.range(of: #"},"metadata":{"position""#)!
        return base.replacingCharacters(in: end.lowerBound..<end.lowerBound, with: properties)
    }

    @Test func everyPropertyByteForByte() throws {
        var encoder = EnvelopeEncoderTests.exampleEncoder()
        let text = Self.encode(&encoder, properties: PropertyFixture.full)
        #expect(text == Self.example)
        #expect(text == Self.exampleWith(Self.fullJSON))
        #expect(text.utf8.count == 715)

        let object = try #require(EnvelopeTestSupport.foundationParse(Array(text.utf8)) as? [String: Any])
        let properties = try #require(object[path: "data", "properties"] as? [String: Any])
        let pairs = try #require(properties["user_properties"] as? [[String]])
        #expect(pairs == [["device", "dev-1"], ["device", "dev-2"], ["naïve ключ", "wert \"ü\" \\ 🚀"]])
        #expect(properties["content_type"] as? String == "application/json")
        #expect(properties["message_expiry_interval"] as? Int == 3600)
        #expect(properties["response_topic"] as? String == "replies/dev-1")
        #expect(
            properties["correlation_data_b64"] as? String == Data([0x00, 0xFF, 0x10, 0x80, 0x41]).base64EncodedString()
        )
        #expect(properties["payload_format_indicator"] as? Int == 1)
        #expect(properties.count == 6)
    }

    /// Members keep the documented order whatever order the properties arrived in.
    @Test func memberOrderIsFixed() {
        var encoder = EnvelopeEncoderTests.exampleEncoder()
        let reversed = Self.encode(&encoder, properties: PropertyFixture.full.reversed())
        #expect(
            reversed
                == Self.example.replacingOccurrences(
                    of: #"[["device","dev-1"],["device","dev-2"],["naïve ключ","wert \"ü\" \\ 🚀"]]"#,
                    with: #"[["naïve ключ","wert \"ü\" \\ 🚀"],["device","dev-2"],["device","dev-1"]]"#
                )
        )
    }

    @Test(arguments: [
        ([PropertyFixture.contentType("text/plain")], #","properties":{"content_type":"text/plain"}"#),
        ([.expiry(0)], #","properties":{"message_expiry_interval":0}"#),
        ([.expiry(UInt32.max)], #","properties":{"message_expiry_interval":4294967295}"#),
        ([.responseTopic("a/b")], #","properties":{"response_topic":"a/b"}"#),
        ([.correlation([])], #","properties":{"correlation_data_b64":""}"#),
        ([.correlation(Array("hi".utf8))], #","properties":{"correlation_data_b64":"aGk="}"#),
        ([.formatIndicator(0)], #","properties":{"payload_format_indicator":0}"#),
        ([.user("", "")], #","properties":{"user_properties":[["",""]]}"#),
        (
            [.user("k", "v"), .formatIndicator(1)],
            #","properties":{"user_properties":[["k","v"]],"payload_format_indicator":1}"#
        ),
        ([.expiry(5), .contentType("c")], #","properties":{"content_type":"c","message_expiry_interval":5}"#),
        // Control characters and quotes escaped as serde_json does (libmosquitto rejects control characters in MQTT
        // strings, but the encoder does not rely on it).
        ([.user("t\u{9}ab", "q\"\u{1}")], #","properties":{"user_properties":[["t\tab","q\"\u0001"]]}"#),
    ])
    func onlyPresentMembersAreWritten(_ properties: [PropertyFixture], _ json: String) {
        var encoder = EnvelopeEncoderTests.exampleEncoder()
        #expect(Self.encode(&encoder, properties: properties) == Self.exampleWith(json))
        var bare = EnvelopeEncoderTests.exampleEncoder(metadata: false)
        #expect(Self.encode(&bare, properties: properties) == Self.exampleWith(json, metadata: false))
    }

    @Test func noPropertiesLeavesTheEnvelopeUnchanged() {
        var encoder = EnvelopeEncoderTests.exampleEncoder()
        #expect(Self.encode(&encoder, properties: []) == EnvelopeEncoderTests.example)
    }

    /// The worst case for the space reserved: long values that escape to six bytes per byte.
    @Test func worstCaseEscapingFits() throws {
        var encoder = EnvelopeEncoderTests.exampleEncoder(parse: false)
        let control = String(repeating: "\u{1}", count: 65_535)
        let properties: [PropertyFixture] = [
            .user(control, control), .user("\"", "\\"), .contentType(control), .responseTopic(control),
            .correlation([UInt8](repeating: 0xFF, count: 65_535)), .expiry(UInt32.max), .formatIndicator(255),
        ]
        let text = Self.encode(&encoder, properties: properties, payload: control)
        let object = try #require(EnvelopeTestSupport.foundationParse(Array(text.utf8)) as? [String: Any])
        let decoded = try #require(object[path: "data", "properties"] as? [String: Any])
        #expect((decoded["user_properties"] as? [[String]]) == [[control, control], ["\"", "\\"]])
        #expect(decoded["content_type"] as? String == control)
        #expect(
            decoded["correlation_data_b64"] as? String == Data(repeating: 0xFF, count: 65_535).base64EncodedString()
        )
        #expect(decoded["payload_format_indicator"] as? Int == 255)
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `object["data"]["properties"]` style access.
    fileprivate subscript(path path: String...) -> Any? {
        var current: Any? = self
        for key in path {
            current = (current as? [String: Any])?[key]
        }
        return current
    }
}
