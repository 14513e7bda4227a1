/// Encodes one MQTT message as rivven-connect's JSON `record` event (EVENT_FORMAT.md §3), appended to `out`.
///
/// Output, one line, keys in this order (`data.metadata` only with `includeMetadata`, `data.payload_b64` only for
/// a payload that is not valid UTF-8 — this gateway's documented addition):
///
/// ```
/// {"event_type":"record","stream":S,"namespace":null,"timestamp":T_Z,
///  "data":{"topic":TOPIC,"payload":P,["payload_b64":B64,]"qos":Q,"retain":R,"timestamp":T_PLUS,
///          ["metadata":{"client_id":CID,"broker":URL,"message_id":N,"pkid":K}]},
///  "metadata":{"position":"N","mqtt.topic":TOPIC,"mqtt.qos":Q}}
/// ```
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

    /// Creates an encoder; `brokerURL` and `clientID` are written as given into `data.metadata`.
    public init(brokerURL: String, clientID: String, parseJSONPayload: Bool, includeMetadata: Bool) {
        self.parseJSONPayload = parseJSONPayload
        self.includeMetadata = includeMetadata
        var prefix: [UInt8] = Array(#","metadata":{"client_id":"#.utf8)
        JSONPayload.appendStringLiteral(clientID, to: &prefix)
        prefix.append(contentsOf: #","broker":"#.utf8)
        JSONPayload.appendStringLiteral(brokerURL, to: &prefix)
        prefix.append(contentsOf: #","message_id":"#.utf8)
        self.metadataPrefix = prefix
    }

    /// Appends the envelope JSON (no trailing newline) to `out`. `topic` is the MQTT topic name bytes (UTF-8),
    /// `payload` the exact payload bytes, `pkid` the MQTT packet id (0 for QoS 0).
    /// `receivedAt` is used for data.timestamp (+00:00 form), `encodedAt` for the top-level timestamp (Z form).
    ///
    /// A topic that is not valid UTF-8 (MQTT forbids it) is written with U+FFFD replacements so the output stays
    /// valid JSON.
    public mutating func encode(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        qos: UInt8,
        retain: Bool,
        pkid: Int,
        receivedAt: WallClockTime,
        encodedAt: WallClockTime,
        into out: inout [UInt8]
    ) {
        messageCount &+= 1
        let messageID = messageCount

        out.append(contentsOf: Fragments.head)
        _ = JSONPayload.appendLossyStringContents(topic, mapStreamCharacters: true, to: &out)
        out.append(contentsOf: Fragments.afterStream)
        RFC3339.append(encodedAt, zulu: true, to: &out)
        out.append(contentsOf: Fragments.dataTopic)
        JSONPayload.appendLossyString(topic, to: &out)
        out.append(contentsOf: Fragments.payload)

        if !(parseJSONPayload && canonicalizer.append(payload, to: &out)) {
            out.append(UInt8(ascii: "\""))
            let valid = JSONPayload.appendLossyStringContents(payload, mapStreamCharacters: false, to: &out)
            out.append(UInt8(ascii: "\""))
            if !valid {
                out.append(contentsOf: Fragments.payloadBase64)
                Base64.append(payload, to: &out)
                out.append(UInt8(ascii: "\""))
            }
        }

        out.append(contentsOf: Fragments.qos)
        DecimalWriter.append(UInt64(qos), to: &out)
        out.append(contentsOf: retain ? Fragments.retainTrue : Fragments.retainFalse)
        RFC3339.append(receivedAt, zulu: false, to: &out)
        out.append(UInt8(ascii: "\""))
        if includeMetadata {
            out.append(contentsOf: metadataPrefix)
            DecimalWriter.append(messageID, to: &out)
            out.append(contentsOf: Fragments.pkid)
            DecimalWriter.append(Int64(pkid), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: Fragments.position)
        DecimalWriter.append(messageID, to: &out)
        out.append(contentsOf: Fragments.mqttTopic)
        JSONPayload.appendLossyString(topic, to: &out)
        out.append(contentsOf: Fragments.mqttQoS)
        DecimalWriter.append(UInt64(qos), to: &out)
        out.append(UInt8(ascii: "}"))
        out.append(UInt8(ascii: "}"))
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
}
