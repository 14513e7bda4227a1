import Synchronization

/// Turns each message into one JSON line (the SPEC §5 envelope, or for `format: raw` a `log cat`-style line) and
/// writes the lines to a `LineOutput` on commit. Messages count as durable once written.
final class JSONLineHandler: MQTTMessageHandler {
    private var encoder: EnvelopeEncoder
    private let format: RecordFormat
    /// The record key of `format: raw` lines, as the log would store it.
    private var keyExtractor: RecordKeyExtractor
    private var keyBuffer: [UInt8] = []
    private let output: LineOutput
    private let counters: IngestCounters
    private let onWriteError: (Int32) -> Void
    private let oversize: OversizeReporter
    private var buffer: [UInt8] = []
    private var bufferedRecords: UInt64 = 0
    private var failing = false

    /// Flush when this much is buffered, so memory stays bounded under a burst.
    private static let flushThreshold = 256 * 1024

    init(
        source: SourceConfiguration,
        connectionIndex: Int,
        output: LineOutput,
        counters: IngestCounters,
        onWriteError: @escaping (Int32) -> Void,
        onOversize: @escaping (_ topic: String, _ size: Int, _ total: UInt64) -> Void
    ) {
        let mqtt = source.mqtt
        self.encoder = EnvelopeEncoder(
            brokerURL: mqtt.brokerURL.original,
            clientID: mqtt.clientID(forConnection: connectionIndex),
            parseJSONPayload: mqtt.parseJSONPayload,
            includeMetadata: mqtt.includeMetadata
        )
        self.format = mqtt.format
        self.keyExtractor = RecordKeyExtractor(mqtt.key)
        keyBuffer.reserveCapacity(512)
        self.output = output
        self.counters = counters
        self.onWriteError = onWriteError
        self.oversize = OversizeReporter(maxPayloadBytes: mqtt.maxPayloadBytes, counters: counters, report: onOversize)
        buffer.reserveCapacity(Self.flushThreshold + 64 * 1024)
    }

    func handle(_ message: MQTTInboundMessage) {
        oversize.check(topic: message.topic, size: message.payload.count)
        let now = WallClockTime.now()
        switch format {
        case .envelope:
            encoder.encode(
                topic: message.topic,
                payload: message.payload,
                properties: message.properties,
                qos: message.qos,
                retain: message.retain,
                pkid: message.packetID,
                receivedAt: now,
                encodedAt: WallClockTime.now(),
                into: &buffer
            )
        case .raw:
            appendRawLine(message, at: now)
        }
        buffer.append(UInt8(ascii: "\n"))
        bufferedRecords += 1
        if buffer.count >= Self.flushThreshold {
            _ = commit()
        }
    }

    /// `{"ts":…,"topic":…,"qos":…,"retain":…,"key":…,"value":…}` with `value_b64`/`key_b64` for non-UTF-8 bytes; the
    /// key is the one `key:` gives (topic, `json:FIELD`, `property:NAME`), `null` for none. As in the log, the MQTT 5
    /// properties are not part of a raw value.
    private func appendRawLine(_ message: MQTTInboundMessage, at time: WallClockTime) {
        buffer.append(contentsOf: #"{"ts":""#.utf8)
        RFC3339.append(time, zulu: true, to: &buffer)
        buffer.append(contentsOf: #"","topic":"#.utf8)
        JSONPayload.appendLossyString(message.topic, to: &buffer)
        buffer.append(contentsOf: #","qos":"#.utf8)
        buffer.append(UInt8(ascii: "0") + message.qos)
        buffer.append(contentsOf: message.retain ? #","retain":true"#.utf8 : #","retain":false"#.utf8)
        keyBuffer.removeAll(keepingCapacity: true)
        let hasKey = keyExtractor.appendKey(
            topic: message.topic,
            payload: message.payload,
            properties: message.properties,
            into: &keyBuffer
        )
        if hasKey {
            keyBuffer.withUnsafeBytes { appendBytesField("key", $0) }
        } else {
            buffer.append(contentsOf: #","key":null"#.utf8)
        }
        appendBytesField("value", message.payload)
        buffer.append(UInt8(ascii: "}"))
    }

    private func appendBytesField(_ name: String, _ bytes: UnsafeRawBufferPointer) {
        JSONPayload.appendTextOrBase64Field(name: name, bytes, to: &buffer)
    }

    func commit() -> Bool {
        guard !buffer.isEmpty else { return true }
        if let error = output.write(buffer) {
            IngestCounters.bump(counters.writeErrors)
            if !failing { onWriteError(error) }
            failing = true
            return false
        }
        failing = false
        IngestCounters.bump(counters.recordsWritten, by: bufferedRecords)
        buffer.removeAll(keepingCapacity: true)
        bufferedRecords = 0
        return true
    }
}
