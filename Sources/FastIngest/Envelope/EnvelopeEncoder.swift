/// Encodes one MQTT message as rivven-connect's JSON `record` event (EVENT_FORMAT.md §3), appended to `out`.
///
/// Output, one line, keys in this order (`data.metadata` only with `includeMetadata`; this gateway's documented
/// additions: `data.payload_b64` only for a payload that is not valid UTF-8, `data.properties` only for an MQTT 5
/// message that carries any of the properties below):
///
/// ```
/// {"event_type":"record","stream":S,"namespace":null,"timestamp":T_Z,
///  "data":{"topic":TOPIC,"payload":P,["payload_b64":B64,]"qos":Q,"retain":R,"timestamp":T_PLUS,
///          ["metadata":{"client_id":CID,"broker":URL,"message_id":N,"pkid":K},]
///          ["properties":{PROPERTIES}]},
///  "metadata":{"position":"N","mqtt.topic":TOPIC,"mqtt.qos":Q}}
/// ```
///
/// `PROPERTIES` holds, in this order, only the members the message has (the rivven-connect fields before it keep
/// their exact bytes):
///
/// ```
/// "user_properties":[["NAME","VALUE"],…],   every user property, in arrival order, duplicates kept
/// "content_type":"…",
/// "message_expiry_interval":N,              seconds left, as the broker forwarded it
/// "response_topic":"…",
/// "correlation_data_b64":"…",               the binary correlation data, standard base64 with padding
/// "payload_format_indicator":0|1
/// ```
///
/// Strings are escaped as every other string of the envelope (serde_json's rules, compact, no spaces).
///
/// Hot path: no Foundation, no `String` per message, and once `out` and the encoder's scratch storage are warm no
/// allocation (except for payload objects with duplicate keys, which serde_json merges).
public struct EnvelopeEncoder: Sendable {
    /// Number of messages encoded so far (the `position`/`message_id` counter; the first message gets 1).
    public private(set) var messageCount: UInt64 = 0

    /// Whether the payload is parsed as JSON (rivven-connect's `parse_json_payload`, default true).
    public let parseJSONPayload: Bool
    /// Whether `data.metadata` is written (rivven-connect's `include_metadata`, default true).
    public let includeMetadata: Bool

    /// `,"metadata":{"client_id":…,"broker":…,"message_id":`, prepared once.
    private let metadataPrefix: [UInt8]
    private var canonicalizer = JSONCanonicalizer()
    private var clock = RFC3339.Cache()

    /// Creates an encoder; `brokerURL` and `clientID` are written as given into `data.metadata`.
    public init(brokerURL: String, clientID: String, parseJSONPayload: Bool, includeMetadata: Bool) {
        self.parseJSONPayload = parseJSONPayload
        self.includeMetadata = includeMetadata
        var prefix: [UInt8] = Array(#","metadata":{"client_id":"#.utf8)
        prefix.append(contentsOf: JSONPayload.stringLiteral(clientID))
        prefix.append(contentsOf: #","broker":"#.utf8)
        prefix.append(contentsOf: JSONPayload.stringLiteral(brokerURL))
        prefix.append(contentsOf: #","message_id":"#.utf8)
        self.metadataPrefix = prefix
    }

    /// Appends the envelope JSON (no trailing newline) to `out`. `topic` is the MQTT topic name bytes (UTF-8),
    /// `payload` the exact payload bytes, `properties` the message's ``MQTTPropertyBlock`` (empty: no
    /// `data.properties`), `pkid` the MQTT packet id (0 for QoS 0).
    /// `receivedAt` is used for data.timestamp (+00:00 form), `encodedAt` for the top-level timestamp (Z form).
    ///
    /// A topic that is not valid UTF-8 (MQTT forbids it) is written with U+FFFD replacements so the output stays
    /// valid JSON.
    public mutating func encode(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        qos: UInt8,
        retain: Bool,
        pkid: Int,
        receivedAt: WallClockTime,
        encodedAt: WallClockTime,
        into out: inout [UInt8]
    ) {
        messageCount &+= 1
        let messageID = messageCount
        let maxCount =
            Fragments.constantLength + metadataPrefix.count
            + StreamName.maxExpansion * topic.count + 2 * JSONPayload.lossyStringBound(topic.count)
            + 2 * RFC3339.maxLength + 5 * 20
            + payloadBound(payload.count) + Self.propertiesBound(properties)
        out.appendWithin(maxCount: maxCount) { writer in
            writer.put(Fragments.head)
            _ = JSONPayload.writeLossyStringContents(topic, mapStreamCharacters: true, to: &writer)
            writer.put(Fragments.afterStream)
            clock.write(encodedAt, zulu: true, to: &writer)
            writer.put(Fragments.dataTopic)
            let topicStart = writer.position
            JSONPayload.writeLossyString(topic, to: &writer)
            let topicJSON = topicStart..<writer.position
            writer.put(Fragments.payload)

            if !(parseJSONPayload && canonicalizer.write(payload, to: &writer)) {
                let valid = JSONPayload.writeLossyString(payload, to: &writer)
                if !valid {
                    writer.put(Fragments.payloadBase64)
                    Base64.write(payload, to: &writer)
                    writer.put(UInt8(ascii: "\""))
                }
            }

            writer.put(Fragments.qos)
            writer.putDecimal(UInt64(qos))
            writer.put(retain ? Fragments.retainTrue : Fragments.retainFalse)
            clock.write(receivedAt, zulu: false, to: &writer)
            writer.put(UInt8(ascii: "\""))
            if includeMetadata {
                writer.put(metadataPrefix)
                writer.putDecimal(messageID)
                writer.put(Fragments.pkid)
                writer.putDecimal(Int64(pkid))
                writer.put(UInt8(ascii: "}"))
            }
            if properties.count > 0 {
                Self.writeProperties(properties, to: &writer)
            }
            writer.put(Fragments.position)
            writer.putDecimal(messageID)
            writer.put(Fragments.mqttTopic)
            writer.putCopy(of: topicJSON)
            writer.put(Fragments.mqttQoS)
            writer.putDecimal(UInt64(qos))
            writer.put(UInt8(ascii: "}"))
            writer.put(UInt8(ascii: "}"))
        }
    }

    /// Writes `,"properties":{…}` for a non-empty property block, members in the documented order.
    private static func writeProperties(_ block: UnsafeRawBufferPointer, to writer: inout ByteWriter) {
        writer.put(Fragments.propertiesOpen)
        var contentType: UnsafeRawBufferPointer?
        var expiry: UInt32?
        var responseTopic: UnsafeRawBufferPointer?
        var correlation: UnsafeRawBufferPointer?
        var indicator: UInt8?
        var userProperties = 0
        for entry in MQTTPropertyBlock.Entries(block) {
            switch entry {
            case .userProperty(let name, let value):
                writer.put(userProperties == 0 ? Fragments.userPropertiesOpen : Fragments.nextPair)
                JSONPayload.writeLossyString(name, to: &writer)
                writer.put(UInt8(ascii: ","))
                JSONPayload.writeLossyString(value, to: &writer)
                writer.put(UInt8(ascii: "]"))
                userProperties += 1
            case .contentType(let value): contentType = contentType ?? value
            case .messageExpiryInterval(let value): expiry = expiry ?? value
            case .responseTopic(let value): responseTopic = responseTopic ?? value
            case .correlationData(let value): correlation = correlation ?? value
            case .payloadFormatIndicator(let value): indicator = indicator ?? value
            }
        }
        var separated = userProperties > 0
        if separated { writer.put(UInt8(ascii: "]")) }
        if let contentType {
            putMember(Fragments.contentType, &separated, &writer)
            JSONPayload.writeLossyString(contentType, to: &writer)
        }
        if let expiry {
            putMember(Fragments.messageExpiryInterval, &separated, &writer)
            writer.putDecimal(UInt64(expiry))
        }
        if let responseTopic {
            putMember(Fragments.responseTopic, &separated, &writer)
            JSONPayload.writeLossyString(responseTopic, to: &writer)
        }
        if let correlation {
            putMember(Fragments.correlationData, &separated, &writer)
            writer.put(UInt8(ascii: "\""))
            Base64.write(correlation, to: &writer)
            writer.put(UInt8(ascii: "\""))
        }
        if let indicator {
            putMember(Fragments.payloadFormatIndicator, &separated, &writer)
            writer.putDecimal(UInt64(indicator))
        }
        writer.put(UInt8(ascii: "}"))
    }

    /// Writes `name` (`"member":`), after a comma unless it is the first member.
    @inline(__always)
    private static func putMember(_ name: [UInt8], _ separated: inout Bool, _ writer: inout ByteWriter) {
        if separated { writer.put(UInt8(ascii: ",")) }
        writer.put(name)
        separated = true
    }

    /// Room for `data.properties`: every string escaped at worst, plus each entry's member name and punctuation.
    private static func propertiesBound(_ block: UnsafeRawBufferPointer) -> Int {
        guard block.count > 0 else { return 0 }
        var bound = Fragments.propertiesOpen.count + Fragments.userPropertiesOpen.count + 2
        for entry in MQTTPropertyBlock.Entries(block) {
            switch entry {
            case .userProperty(let name, let value):
                bound += JSONPayload.lossyStringBound(name.count) + JSONPayload.lossyStringBound(value.count) + 4
            case .contentType(let value), .responseTopic(let value):
                bound += Fragments.memberBound + JSONPayload.lossyStringBound(value.count)
            case .correlationData(let value):
                bound += Fragments.memberBound + Base64.encodedLength(value.count) + 2
            case .messageExpiryInterval, .payloadFormatIndicator:
                bound += Fragments.memberBound + 10
            }
        }
        return bound
    }

    /// Room for the payload: the canonical JSON, or the lossy string plus `payload_b64`, whichever is larger.
    private func payloadBound(_ count: Int) -> Int {
        let asString =
            JSONPayload.lossyStringBound(count) + Fragments.payloadBase64.count + Base64.encodedLength(count) + 1
        return parseJSONPayload ? max(asString, JSONCanonicalizer.outputBound(count)) : asString
    }
}

/// The constant pieces of the envelope, in output order.
private enum Fragments {
    static let head: [UInt8] = Array(#"{"event_type":"record","stream":""#.utf8)
    static let afterStream: [UInt8] = Array(#"","namespace":null,"timestamp":""#.utf8)
    static let dataTopic: [UInt8] = Array(#"","data":{"topic":"#.utf8)
    static let payload: [UInt8] = Array(#","payload":"#.utf8)
    static let payloadBase64: [UInt8] = Array(#","payload_b64":""#.utf8)
    static let qos: [UInt8] = Array(#","qos":"#.utf8)
    static let retainTrue: [UInt8] = Array(#","retain":true,"timestamp":""#.utf8)
    static let retainFalse: [UInt8] = Array(#","retain":false,"timestamp":""#.utf8)
    static let pkid: [UInt8] = Array(#","pkid":"#.utf8)
    static let position: [UInt8] = Array(#"},"metadata":{"position":""#.utf8)
    static let mqttTopic: [UInt8] = Array(#"","mqtt.topic":"#.utf8)
    static let mqttQoS: [UInt8] = Array(#","mqtt.qos":"#.utf8)
    static let propertiesOpen: [UInt8] = Array(#","properties":{"#.utf8)
    static let userPropertiesOpen: [UInt8] = Array(#""user_properties":[["#.utf8)
    static let nextPair: [UInt8] = Array(#",["#.utf8)
    static let contentType: [UInt8] = Array(#""content_type":"#.utf8)
    static let messageExpiryInterval: [UInt8] = Array(#""message_expiry_interval":"#.utf8)
    static let responseTopic: [UInt8] = Array(#""response_topic":"#.utf8)
    static let correlationData: [UInt8] = Array(#""correlation_data_b64":"#.utf8)
    static let payloadFormatIndicator: [UInt8] = Array(#""payload_format_indicator":"#.utf8)
    /// The longest member name above with its separating comma.
    static let memberBound = 1 + messageExpiryInterval.count

    /// Total length of the fixed pieces, counting both retain variants (an over-estimate is fine).
    static let constantLength: Int = [
        head, afterStream, dataTopic, payload, payloadBase64, qos, retainTrue, retainFalse, pkid, position, mqttTopic,
        mqttQoS,
    ].reduce(8) { $0 + $1.count }
}
