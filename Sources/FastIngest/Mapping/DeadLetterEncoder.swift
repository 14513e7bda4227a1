/// Writes the dead-letter record value: rivven-connect's DLQ envelope plus the MQTT topic (SPEC §3.1).
///
/// rivven-connect 0.0.22 (`crates/rivven-connect/src/source_runner.rs`, `struct DlqEnvelope` and
/// `SourceRunner::publish_to_dlq`) serialises, with `serde_json::to_vec` (compact, fields in declaration order):
///
/// | field | Rust type | rivven-connect writes | this encoder writes |
/// |---|---|---|---|
/// | `original_topic` | `String` | the topic the event was meant for | the same (see below) |
/// | `connector_name` | `String` | the source's name (`sources:` key) | the same (``SourceConfiguration/name``) |
/// | `payload_b64` | `String` | standard base64, `=`-padded, of the bytes not published | the same |
/// | `error` | `String` | the last error's text | why the record is not published |
/// | `retry_count` | `u32` | publish attempts made (3, or 10 for CDC) | the caller's count, 0 for mapping problems |
/// | `timestamp` | `String` | `chrono::Utc::now().to_rfc3339()` | the same format: `+00:00`, 0/3/6/9 digits |
///
/// This encoder then adds `mqtt_topic` (the MQTT topic, a string), as SPEC §3.1 asks. rivven-connect's "bytes not
/// published" are the serialised event, i.e. the record value; ``RecordMapper`` passes the stored value (the
/// envelope, or the raw payload for `format: raw`), and as `original_topic` the routed Rivven topic, or the static
/// `topic` when routing is what failed. Strings are escaped like serde_json; bytes that are not UTF-8 (only possible
/// in a topic, which MQTT forbids) become U+FFFD. rivven-connect publishes the envelope with no key, and so does
/// ``RecordMapper``.
///
/// Example (one line): `{"original_topic":"iot-events","connector_name":"mqtt-source","payload_b64":"aGk=",
/// "error":"payload of 2 bytes exceeds max_payload_bytes 1","retry_count":0,
/// "timestamp":"2026-11-25T12:00:00.123456789+00:00","mqtt_topic":"sensors/room1"}`
public struct DeadLetterEncoder: Sendable {
    /// The connector (source) name written into every record.
    public let connectorName: String

    /// `,"connector_name":"…","payload_b64":"`, prepared once.
    private let connectorFragment: [UInt8]

    /// Creates an encoder for the source named `connectorName`.
    public init(connectorName: String) {
        self.connectorName = connectorName
        var fragment: [UInt8] = Array(#","connector_name":"#.utf8)
        fragment.append(contentsOf: JSONPayload.stringLiteral(connectorName))
        fragment.append(contentsOf: #","payload_b64":""#.utf8)
        self.connectorFragment = fragment
    }

    /// Appends the dead-letter JSON (no trailing newline) to `out`.
    ///
    /// - Parameters:
    ///   - originalTopic: the Rivven topic the record was meant for.
    ///   - mqttTopic: the MQTT topic of the message.
    ///   - payload: the record value that is not published (it is base64-encoded).
    ///   - error: why.
    ///   - retryCount: publish attempts made before giving up (0 when none was made).
    ///   - deadLetteredAt: the time written into `timestamp`.
    public func append(
        originalTopic: UnsafeRawBufferPointer,
        mqttTopic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        error: String,
        retryCount: UInt32 = 0,
        deadLetteredAt: WallClockTime,
        into out: inout [UInt8]
    ) {
        var error = error
        error.withUTF8 { errorBytes in
            let errorText = UnsafeRawBufferPointer(errorBytes)
            let maxCount =
                Self.constantLength + connectorFragment.count
                + JSONPayload.lossyStringBound(originalTopic.count) + JSONPayload.lossyStringBound(mqttTopic.count)
                + JSONPayload.lossyStringBound(errorText.count) + Base64.encodedLength(payload.count)
                + 10 + RFC3339.maxLength
            out.appendWithin(maxCount: maxCount) { writer in
                writer.put(Self.head)
                JSONPayload.writeLossyString(originalTopic, to: &writer)
                writer.put(connectorFragment)
                Base64.write(payload, to: &writer)
                writer.put(Self.error)
                JSONPayload.writeLossyString(errorText, to: &writer)
                writer.put(Self.retryCount)
                writer.putDecimal(UInt64(retryCount))
                writer.put(Self.timestamp)
                RFC3339.write(deadLetteredAt, zulu: false, to: &writer)
                writer.put(Self.mqttTopic)
                JSONPayload.writeLossyString(mqttTopic, to: &writer)
                writer.put(UInt8(ascii: "}"))
            }
        }
    }

    private static let head: [UInt8] = Array(#"{"original_topic":"#.utf8)
    private static let error: [UInt8] = Array(#"","error":"#.utf8)
    private static let retryCount: [UInt8] = Array(#","retry_count":"#.utf8)
    private static let timestamp: [UInt8] = Array(#","timestamp":""#.utf8)
    private static let mqttTopic: [UInt8] = Array(#"","mqtt_topic":"#.utf8)
    private static let constantLength =
        head.count + error.count + retryCount.count + timestamp.count + mqttTopic.count + 1
}
