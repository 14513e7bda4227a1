/// One record of the local log, copied out of its segment (``LogReader``).
public struct LogRecord: Sendable, Equatable {
    /// Its offset.
    public var offset: UInt64
    /// When the gateway received the message, µs since the Unix epoch.
    public var receiveTimeMicros: Int64
    /// The MQTT topic.
    public var topic: [UInt8]
    /// The MQTT QoS (0…2).
    public var qos: UInt8
    /// The MQTT retain flag.
    public var retain: Bool
    /// The record key; nil when the record has none.
    public var key: [UInt8]?
    /// The record value: the rivven-connect envelope or the raw payload.
    public var value: [UInt8]
    /// Whether `value` is a JSON envelope (`format: envelope`) rather than the raw payload.
    public var valueIsEnvelope: Bool

    /// Creates a record.
    public init(
        offset: UInt64,
        receiveTimeMicros: Int64,
        topic: [UInt8],
        qos: UInt8,
        retain: Bool,
        key: [UInt8]?,
        value: [UInt8],
        valueIsEnvelope: Bool
    ) {
        self.offset = offset
        self.receiveTimeMicros = receiveTimeMicros
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.key = key
        self.value = value
        self.valueIsEnvelope = valueIsEnvelope
    }

    /// Copies a borrowed record.
    init(_ view: LogRecordView) {
        self.init(
            offset: view.offset,
            receiveTimeMicros: view.receiveTimeMicros,
            topic: Array(view.topic),
            qos: view.qos,
            retain: view.retain,
            key: view.key.map { Array($0) },
            value: Array(view.value),
            valueIsEnvelope: view.valueIsEnvelope
        )
    }

    /// Appends the record as one line of `rivven-mqtt log cat` output (SPEC §6), newline included:
    ///
    /// `{"offset":N,"ts":"YYYY-MM-DDTHH:MM:SS.ffffffZ","topic":"…","qos":N,"retain":B,"key":…,"value":…}`
    ///
    /// `key` and `value` are JSON strings when the bytes are valid UTF-8; otherwise the field is named `key_b64` /
    /// `value_b64` and holds standard base64. `key` is `null` when the record has none. `ts` always has six
    /// fraction digits; a receive time outside the years 0000–9999 (only possible in a damaged file) is `null`.
    public func appendJSONLine(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"offset":"#.utf8)
        out.append(contentsOf: String(offset).utf8)
        out.append(contentsOf: #","ts":"#.utf8)
        Self.appendTimestamp(microseconds: receiveTimeMicros, into: &out)
        out.append(contentsOf: #","topic":"#.utf8)
        topic.withUnsafeBytes { JSONPayload.appendLossyString($0, to: &out) }
        out.append(contentsOf: #","qos":"#.utf8)
        out.append(contentsOf: String(qos).utf8)
        out.append(contentsOf: (retain ? #","retain":true"# : #","retain":false"#).utf8)
        if let key {
            Self.appendTextOrBase64(name: "key", key, into: &out)
        } else {
            out.append(contentsOf: #","key":null"#.utf8)
        }
        Self.appendTextOrBase64(name: "value", value, into: &out)
        out.append(contentsOf: "}\n".utf8)
    }

    private static func appendTextOrBase64(name: String, _ bytes: [UInt8], into out: inout [UInt8]) {
        bytes.withUnsafeBytes { JSONPayload.appendTextOrBase64Field(name: name, $0, to: &out) }
    }

    /// The first and last microsecond RFC 3339's four-digit years can show: 0000-01-01 and 9999-12-31T23:59:59.999999.
    static let printableMicroseconds: ClosedRange<Int64> = -62_167_219_200_000_000...253_402_300_799_999_999

    /// `"YYYY-MM-DDTHH:MM:SS.ffffffZ"` (with the quotes when `quoted`), or `null` out of range.
    static func appendTimestamp(microseconds: Int64, quoted: Bool = true, into out: inout [UInt8]) {
        guard printableMicroseconds.contains(microseconds) else {
            out.append(contentsOf: "null".utf8)
            return
        }
        var seconds = microseconds / 1_000_000
        var fraction = microseconds % 1_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000
        }
        out.appendWithin(maxCount: 29) { writer in
            if quoted { writer.put(UInt8(ascii: "\"")) }
            RFC3339.writeDateTime(seconds: seconds, to: &writer)
            writer.put(UInt8(ascii: "."))
            writer.putFixedDigits(fraction, count: 6)
            writer.put(UInt8(ascii: "Z"))
            if quoted { writer.put(UInt8(ascii: "\"")) }
        }
    }
}

/// One record of the local log, borrowed from the reader's buffer (``LogReader/readNext(below:_:)``): valid only
/// during the call it is lent to.
package struct LogRecordView {
    package var offset: UInt64
    package var receiveTimeMicros: Int64
    package var topic: UnsafeRawBufferPointer
    package var qos: UInt8
    package var retain: Bool
    package var key: UnsafeRawBufferPointer?
    package var value: UnsafeRawBufferPointer
    package var valueIsEnvelope: Bool

    package init(
        offset: UInt64,
        receiveTimeMicros: Int64,
        topic: UnsafeRawBufferPointer,
        qos: UInt8,
        retain: Bool,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer,
        valueIsEnvelope: Bool
    ) {
        self.offset = offset
        self.receiveTimeMicros = receiveTimeMicros
        self.topic = topic
        self.qos = qos
        self.retain = retain
        self.key = key
        self.value = value
        self.valueIsEnvelope = valueIsEnvelope
    }

    init(body: UnsafeRawBufferPointer, layout: RecordBodyLayout) {
        offset = layout.offset
        receiveTimeMicros = layout.receiveTimeMicros
        topic = UnsafeRawBufferPointer(rebasing: body[layout.topic])
        qos = layout.qos
        retain = layout.retain
        key = layout.key.map { UnsafeRawBufferPointer(rebasing: body[$0]) }
        value = UnsafeRawBufferPointer(rebasing: body[layout.value])
        valueIsEnvelope = layout.valueIsEnvelope
    }

    /// The record as the mapper's input.
    var mapperInput: RecordMapper.Input {
        RecordMapper.Input(
            topic: topic,
            qos: qos,
            retain: retain,
            key: key,
            value: value,
            valueIsEnvelope: valueIsEnvelope,
            receiveTimeMicros: receiveTimeMicros
        )
    }
}
