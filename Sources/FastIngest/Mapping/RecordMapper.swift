/// What the Rivven forwarder does with one record of the local log (``RecordMapper/map(_:now:topic:key:value:)``).
public enum MappingDecision: Sendable, Equatable {
    /// Publish to the Rivven topic now in the `topic` buffer, with the key now in the `key` buffer when `hasKey`, and
    /// the record's stored value, unchanged, as the value (it is not copied).
    case publish(hasKey: Bool)
    /// Publish to the dead-letter topic now in the `topic` buffer, without a key, the dead-letter JSON now in the
    /// `value` buffer (``DeadLetterEncoder``). Count it as dead-lettered.
    case deadLetter(MappingProblem)
    /// The record would be dead-lettered, but no `dead_letter_topic` is configured: publish nothing, count and log
    /// it (the local log keeps the record). All three buffers are empty.
    case drop(MappingProblem)
}

/// Turns each stored log record into what is sent to Rivven: its topic (static or `topic_routing`), its key and its
/// value, or a dead-letter record when it is too large or cannot be routed (SPEC §3.1).
///
/// The checks, in order:
/// 1. Routing (``TopicRouter``); a failure is an ``MappingProblem/Code/unroutable`` problem whose dead-letter
///    record names the static `topic` as `original_topic`.
/// 2. Size: a payload over `max_payload_bytes` is an ``MappingProblem/Code/oversize`` problem with the reason
///    `payload of N bytes exceeds max_payload_bytes M`; its dead-letter record names the routed topic.
///
/// The payload size is the stored value's length for a raw value. For an envelope value it is measured inside the
/// envelope, and only when the whole envelope is over the limit (the payload is always smaller than its envelope):
/// the decoded length of `data.payload_b64` when present (the exact payload bytes), else the unescaped length of
/// `data.payload` when it is a string (exact for payloads written as text), else the length of `data.payload`'s
/// compact JSON text (a JSON payload is measured as Rivven receives it, without the whitespace it was published
/// with). An envelope that cannot be read that way is measured whole.
///
/// The key is the one stored with the record (computed at ingest, where the raw payload is at hand, with
/// ``RecordKeyExtractor``); dead-letter records have none, as in rivven-connect.
///
/// Hot path: the ``MappingDecision/publish(hasKey:)`` path does not allocate once the caller's buffers are warm; the
/// dead-letter and drop paths build their reason `String`.
public struct RecordMapper: Sendable {
    /// One record of the local log, borrowed (the fields of ``LogRecord``, as views into the caller's storage).
    ///
    /// `qos`, `retain` and `receiveTimeMicros` do not change the decision today; they are here so the forwarder can
    /// hand over a whole record and later mappings (headers, MQTT 5 properties) need no new entry point.
    public struct Input {
        /// The MQTT topic (UTF-8).
        public var topic: UnsafeRawBufferPointer
        /// The MQTT QoS (0…2).
        public var qos: UInt8
        /// The MQTT retain flag.
        public var retain: Bool
        /// The stored key; nil when the record has none.
        public var key: UnsafeRawBufferPointer?
        /// The stored value: the rivven-connect envelope or the raw payload.
        public var value: UnsafeRawBufferPointer
        /// Whether `value` is a JSON envelope rather than the raw payload.
        public var valueIsEnvelope: Bool
        /// When the gateway received the message, µs since the Unix epoch.
        public var receiveTimeMicros: Int64

        /// Creates a view of a record.
        public init(
            topic: UnsafeRawBufferPointer,
            qos: UInt8,
            retain: Bool,
            key: UnsafeRawBufferPointer?,
            value: UnsafeRawBufferPointer,
            valueIsEnvelope: Bool,
            receiveTimeMicros: Int64
        ) {
            self.topic = topic
            self.qos = qos
            self.retain = retain
            self.key = key
            self.value = value
            self.valueIsEnvelope = valueIsEnvelope
            self.receiveTimeMicros = receiveTimeMicros
        }
    }

    /// Chooses the Rivven topic.
    public let router: TopicRouter
    /// `dead_letter_topic`: where records that cannot be published go; nil to drop them from the forwarding.
    public let deadLetterTopic: String?
    /// `max_payload_bytes`.
    public let maxPayloadBytes: Int

    private let deadLetterTopicBytes: [UInt8]
    private let deadLetters: DeadLetterEncoder

    /// Creates a mapper.
    ///
    /// - Parameters:
    ///   - router: the source's static topic and `topic_routing`.
    ///   - deadLetterTopic: `dead_letter_topic`, or nil.
    ///   - maxPayloadBytes: `max_payload_bytes` (at least 0).
    ///   - connectorName: the source name written into dead-letter records (`connector_name`).
    /// - Throws: ``MappingError`` when `deadLetterTopic` is not a valid Rivven topic name.
    public init(
        router: TopicRouter,
        deadLetterTopic: String?,
        maxPayloadBytes: Int,
        connectorName: String
    ) throws(MappingError) {
        precondition(maxPayloadBytes >= 0, "max_payload_bytes cannot be negative")
        if let deadLetterTopic, let problem = RivvenTopicName.problem(deadLetterTopic) {
            throw MappingError(.invalidTopicName, "dead_letter_topic `\(deadLetterTopic)`: \(problem)")
        }
        self.router = router
        self.deadLetterTopic = deadLetterTopic
        self.deadLetterTopicBytes = Array((deadLetterTopic ?? "").utf8)
        self.maxPayloadBytes = maxPayloadBytes
        self.deadLetters = DeadLetterEncoder(connectorName: connectorName)
    }

    /// Creates the mapper of a configured source: its `topic`, `topic_routing`, `dead_letter_topic`,
    /// `max_payload_bytes` and name.
    public init(source: SourceConfiguration) throws(MappingError) {
        try self.init(
            router: TopicRouter(staticTopic: source.topic, template: source.mqtt.topicRouting),
            deadLetterTopic: source.mqtt.deadLetterTopic,
            maxPayloadBytes: source.mqtt.maxPayloadBytes,
            connectorName: source.name
        )
    }

    /// Decides what to send for `record`, replacing the contents of the three buffers (their capacity is kept).
    ///
    /// - Parameters:
    ///   - record: the stored record.
    ///   - now: the time written into a dead-letter record's `timestamp`.
    ///   - topic: receives the Rivven topic (or the dead-letter topic).
    ///   - key: receives the key when the decision is ``MappingDecision/publish(hasKey:)`` with `hasKey`.
    ///   - value: receives the dead-letter JSON for ``MappingDecision/deadLetter(_:)``; otherwise left empty.
    public func map(
        _ record: Input,
        now: WallClockTime,
        topic: inout [UInt8],
        key: inout [UInt8],
        value: inout [UInt8]
    ) -> MappingDecision {
        topic.removeAll(keepingCapacity: true)
        key.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)

        if case .invalid(let reason) = router.route(topic: record.topic, into: &topic) {
            topic.append(contentsOf: router.staticTopic.utf8)
            return deadLetter(record, MappingProblem(.unroutable, reason), now: now, topic: &topic, value: &value)
        }
        let size = payloadSize(record)
        if size > maxPayloadBytes {
            let reason = "payload of \(size) bytes exceeds max_payload_bytes \(maxPayloadBytes)"
            return deadLetter(record, MappingProblem(.oversize, reason), now: now, topic: &topic, value: &value)
        }
        guard let storedKey = record.key else { return .publish(hasKey: false) }
        key.append(contentsOf: storedKey)
        return .publish(hasKey: true)
    }

    /// Writes the dead-letter record for `record`; `topic` holds the topic it was meant for on entry.
    private func deadLetter(
        _ record: Input,
        _ problem: MappingProblem,
        now: WallClockTime,
        topic: inout [UInt8],
        value: inout [UInt8]
    ) -> MappingDecision {
        guard deadLetterTopic != nil else {
            topic.removeAll(keepingCapacity: true)
            return .drop(problem)
        }
        topic.withUnsafeBytes { originalTopic in
            deadLetters.append(
                originalTopic: originalTopic,
                mqttTopic: record.topic,
                payload: record.value,
                error: problem.reason,
                deadLetteredAt: now,
                into: &value
            )
        }
        topic.removeAll(keepingCapacity: true)
        topic.append(contentsOf: deadLetterTopicBytes)
        return .deadLetter(problem)
    }

    /// The payload size compared with `max_payload_bytes` (see the type's documentation).
    func payloadSize(_ record: Input) -> Int {
        let count = record.value.count
        guard record.valueIsEnvelope, count > maxPayloadBytes else { return count }
        return Self.envelopePayloadSize(record.value) ?? count
    }

    /// The payload size measured inside a rivven-connect envelope, or nil when it has no `data.payload`.
    static func envelopePayloadSize(_ envelope: UnsafeRawBufferPointer) -> Int? {
        guard case .found(let data) = lookup("data", in: envelope), data.kind == .object else { return nil }
        let dataBytes = UnsafeRawBufferPointer(rebasing: envelope[data.range])
        if case .found(let encoded) = lookup("payload_b64", in: dataBytes), encoded.kind == .string {
            let content = encoded.stringContent
            let length = JSONMemberScanner.unescapedLength(content, in: dataBytes)
            var padding = 0
            var index = content.upperBound - 1
            while index >= content.lowerBound, padding < 2, dataBytes[index] == UInt8(ascii: "=") {
                padding += 1
                index -= 1
            }
            return max(0, length / 4 * 3 - padding)
        }
        guard case .found(let payload) = lookup("payload", in: dataBytes) else { return nil }
        if payload.kind == .string {
            return JSONMemberScanner.unescapedLength(payload.stringContent, in: dataBytes)
        }
        return payload.range.count
    }

    private static func lookup(_ name: StaticString, in document: UnsafeRawBufferPointer) -> JSONMemberLookup {
        name.withUTF8Buffer { JSONMemberScanner.findMember(UnsafeRawBufferPointer($0), in: document) }
    }
}
