/// TLS settings for the MQTT connection (`config.tls.*`, or `config.auth.ca_cert` etc. as Rivven has them).
public struct MQTTTLSConfiguration: Sendable, Equatable {
    /// `ca_cert`: PEM file of the CAs to trust; `nil` = the system CAs.
    public var caCert: String?
    /// `client_cert`: PEM client certificate for mutual TLS (needs `client_key`).
    public var clientCert: String?
    /// `client_key`: PEM private key of `client_cert`.
    public var clientKey: String?
    /// `tls.insecure` (default `false`): skip hostname verification only, never certificate verification.
    public var insecure: Bool

    /// Creates TLS settings; every parameter defaults to "not set".
    public init(caCert: String? = nil, clientCert: String? = nil, clientKey: String? = nil, insecure: Bool = false) {
        self.caCert = caCert
        self.clientCert = clientCert
        self.clientKey = clientKey
        self.insecure = insecure
    }
}

/// The MQTT last will (`config.last_will`).
public struct MQTTLastWill: Sendable, Equatable {
    /// `topic` (required): a topic name without wildcards.
    public var topic: String
    /// `message` (alias `payload`, default empty): the will payload, as UTF-8 bytes.
    public var message: [UInt8]
    /// `qos` (default `at_most_once`).
    public var qos: MQTTQoS
    /// `retain` (default `false`).
    public var retain: Bool

    /// Creates a last will.
    public init(topic: String, message: [UInt8] = [], qos: MQTTQoS = .atMostOnce, retain: Bool = false) {
        self.topic = topic
        self.message = message
        self.qos = qos
        self.retain = retain
    }
}

/// One MQTT source: the `config:` mapping of Rivven's mqtt-source plus this product's additions.
///
/// | key | type | default |
/// |---|---|---|
/// | `broker_url` | URL (see ``BrokerURL``) | required |
/// | `topics` | list of topic filters | required, ≥ 1 |
/// | `client_id` | string | `rivven-mqtt-` + 8 hex chars, stable per host and config |
/// | `qos` | `at_most_once`/`at_least_once`/`exactly_once` or 0/1/2 | `at_most_once` |
/// | `clean_session` | bool | `true` |
/// | `keep_alive_secs` | 5…65535 | 60 |
/// | `connect_timeout_secs` | 1…300 | 30 |
/// | `mqtt_version` | `v3`/`v311`/`v5` | `v311` |
/// | `auth.username`, `auth.password` | string | none |
/// | `tls.ca_cert`, `tls.client_cert`, `tls.client_key` (or under `auth.`) | readable file | none |
/// | `tls.insecure` | bool | `false` |
/// | `max_inflight` | 1…65535 | 100 |
/// | `reconnect_delay_ms` | 100…60000 | 5000 |
/// | `max_reconnect_attempts` | 0…4294967295 (0 = forever) | 0 |
/// | `retry_initial_ms` / `retry_max_ms` / `retry_multiplier` | 10…60000 / 100…300000 / 1.0…10.0 | 100 / 10000 / 2.0 |
/// | `parse_json_payload`, `include_metadata` | bool | `true`, `true` |
/// | `empty_poll_delay_ms` | 0…60000 | 50 |
/// | `last_will.{topic, message|payload, qos, retain}` | | none |
/// | `shared_group` | string without `+ # /` | none |
/// | `connections` | 1…64 (> 1 needs `shared_group`) | 1 |
/// | `format` | `envelope`/`raw` | `envelope` |
/// | `key` | `none`/`topic`/`json:FIELD`/`property:NAME` | `none` (envelope), `topic` (raw) |
/// | `topic_routing` | template with `{N}` and `{topic}` | none |
/// | `dead_letter_topic` | Rivven topic name | none |
/// | `max_payload_bytes` | size, 1 B…256 MiB | 1 MiB |
public struct MQTTConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `broker_url`.
    public var brokerURL: BrokerURL
    /// `topics`, as configured (without the `$share/` prefix that `shared_group` adds).
    public var topics: [String]
    /// The client id: the configured `client_id`, or the derived one.
    public var clientID: String
    /// `true` when `client_id` was not configured and ``clientID`` was derived.
    public var clientIDIsDerived: Bool
    /// `qos` (default `.atMostOnce`).
    public var qos: MQTTQoS
    /// `clean_session` (default `true`).
    public var cleanSession: Bool
    /// `keep_alive_secs` (default 60).
    public var keepAliveSecs: Int
    /// `connect_timeout_secs` (default 30).
    public var connectTimeoutSecs: Int
    /// `mqtt_version` (default `.v311`).
    public var protocolVersion: MQTTProtocolVersion
    /// `auth.username`.
    public var username: String?
    /// `auth.password` (redacted in every description).
    public var password: Secret?
    /// TLS files and `insecure`.
    public var tls: MQTTTLSConfiguration
    /// `max_inflight` (default 100).
    public var maxInflight: Int
    /// `reconnect_delay_ms` (default 5000; accepted, the retry_* keys drive backoff).
    public var reconnectDelayMs: Int
    /// `max_reconnect_attempts` (default 0 = forever).
    public var maxReconnectAttempts: Int
    /// `retry_initial_ms` (default 100).
    public var retryInitialMs: Int
    /// `retry_max_ms` (default 10000).
    public var retryMaxMs: Int
    /// `retry_multiplier` (default 2.0).
    public var retryMultiplier: Double
    /// `parse_json_payload` (default `true`).
    public var parseJSONPayload: Bool
    /// `include_metadata` (default `true`).
    public var includeMetadata: Bool
    /// `empty_poll_delay_ms` (default 50).
    public var emptyPollDelayMs: Int
    /// `last_will`.
    public var lastWill: MQTTLastWill?
    /// `shared_group`.
    public var sharedGroup: String?
    /// `connections` (default 1).
    public var connections: Int
    /// `format` (default `.envelope`).
    public var format: RecordFormat
    /// `key` (default `.none` for envelope, `.topic` for raw).
    public var key: RecordKeySpec
    /// `topic_routing`.
    public var topicRouting: String?
    /// `dead_letter_topic`.
    public var deadLetterTopic: String?
    /// `max_payload_bytes` (default 1 MiB).
    public var maxPayloadBytes: Int

    /// Creates a configuration with the defaults of SPEC §3.1 for everything not given.
    ///
    /// `key` defaults to `.none` for `.envelope` and `.topic` for `.raw`.
    public init(
        brokerURL: BrokerURL,
        topics: [String],
        clientID: String,
        clientIDIsDerived: Bool = false,
        qos: MQTTQoS = .atMostOnce,
        cleanSession: Bool = true,
        keepAliveSecs: Int = 60,
        connectTimeoutSecs: Int = 30,
        protocolVersion: MQTTProtocolVersion = .v311,
        username: String? = nil,
        password: Secret? = nil,
        tls: MQTTTLSConfiguration = MQTTTLSConfiguration(),
        maxInflight: Int = 100,
        reconnectDelayMs: Int = 5000,
        maxReconnectAttempts: Int = 0,
        retryInitialMs: Int = 100,
        retryMaxMs: Int = 10_000,
        retryMultiplier: Double = 2.0,
        parseJSONPayload: Bool = true,
        includeMetadata: Bool = true,
        emptyPollDelayMs: Int = 50,
        lastWill: MQTTLastWill? = nil,
        sharedGroup: String? = nil,
        connections: Int = 1,
        format: RecordFormat = .envelope,
        key: RecordKeySpec? = nil,
        topicRouting: String? = nil,
        deadLetterTopic: String? = nil,
        maxPayloadBytes: Int = 1 << 20
    ) {
        self.brokerURL = brokerURL
        self.topics = topics
        self.clientID = clientID
        self.clientIDIsDerived = clientIDIsDerived
        self.qos = qos
        self.cleanSession = cleanSession
        self.keepAliveSecs = keepAliveSecs
        self.connectTimeoutSecs = connectTimeoutSecs
        self.protocolVersion = protocolVersion
        self.username = username
        self.password = password
        self.tls = tls
        self.maxInflight = maxInflight
        self.reconnectDelayMs = reconnectDelayMs
        self.maxReconnectAttempts = maxReconnectAttempts
        self.retryInitialMs = retryInitialMs
        self.retryMaxMs = retryMaxMs
        self.retryMultiplier = retryMultiplier
        self.parseJSONPayload = parseJSONPayload
        self.includeMetadata = includeMetadata
        self.emptyPollDelayMs = emptyPollDelayMs
        self.lastWill = lastWill
        self.sharedGroup = sharedGroup
        self.connections = connections
        self.format = format
        self.key = key ?? (format == .raw ? .topic : .none)
        self.topicRouting = topicRouting
        self.deadLetterTopic = deadLetterTopic
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// The filters actually subscribed: `$share/GROUP/filter` for each topic when ``sharedGroup`` is set,
    /// else ``topics`` unchanged.
    public var subscriptionFilters: [String] {
        guard let sharedGroup else { return topics }
        return topics.map { "\(MQTTTopic.sharePrefix)\(sharedGroup)/\($0)" }
    }

    /// The client id of connection `k` (0-based): ``clientID`` when there is one connection,
    /// else `"\(clientID)-\(k + 1)"`.
    public func clientID(forConnection k: Int) -> String {
        connections == 1 ? clientID : "\(clientID)-\(k + 1)"
    }

    /// Every client id this source connects with, one per connection.
    public var allClientIDs: [String] {
        (0..<max(connections, 1)).map { clientID(forConnection: $0) }
    }

    /// The stable client id used when `client_id` is not configured:
    /// `rivven-mqtt-` + 8 lowercase hex digits of a FNV-1a 64-bit hash (folded to 32 bits) of the host name,
    /// the broker URL, the sorted topics and the source name. It does not change between runs.
    public static func derivedClientID(
        hostName: String,
        brokerURL: String,
        topics: [String],
        sourceName: String
    ) -> String {
        var hash = FNV1a64()
        hash.add(hostName)
        hash.add(brokerURL)
        for topic in topics.sorted() { hash.add(topic) }
        hash.add(sourceName)
        let folded = UInt32(truncatingIfNeeded: hash.value >> 32) ^ UInt32(truncatingIfNeeded: hash.value)
        let hex = String(folded, radix: 16)
        return "rivven-mqtt-" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Every setting, with the password as `***`.
    public var description: String {
        var parts: [String] = [
            "broker_url: \(brokerURL.original)",
            "topics: \(topics)",
            "client_id: \(clientID)\(clientIDIsDerived ? " (derived)" : "")",
            "qos: \(qos.rawValue)",
            "clean_session: \(cleanSession)",
            "keep_alive_secs: \(keepAliveSecs)",
            "connect_timeout_secs: \(connectTimeoutSecs)",
            "mqtt_version: \(protocolVersion.rawValue)",
        ]
        if let username { parts.append("username: \(username)") }
        if let password { parts.append("password: \(password)") }
        if let caCert = tls.caCert { parts.append("tls.ca_cert: \(caCert)") }
        if let clientCert = tls.clientCert { parts.append("tls.client_cert: \(clientCert)") }
        if tls.clientKey != nil { parts.append("tls.client_key: (set)") }
        if tls.insecure { parts.append("tls.insecure: true") }
        parts += [
            "max_inflight: \(maxInflight)",
            "reconnect_delay_ms: \(reconnectDelayMs)",
            "max_reconnect_attempts: \(maxReconnectAttempts)",
            "retry: \(retryInitialMs)…\(retryMaxMs) ms ×\(retryMultiplier)",
            "parse_json_payload: \(parseJSONPayload)",
            "include_metadata: \(includeMetadata)",
            "empty_poll_delay_ms: \(emptyPollDelayMs)",
        ]
        if let lastWill {
            parts.append("last_will: \(lastWill.topic) (qos \(lastWill.qos.rawValue), retain \(lastWill.retain))")
        }
        if let sharedGroup { parts.append("shared_group: \(sharedGroup)") }
        parts += ["connections: \(connections)", "format: \(format.rawValue)", "key: \(key.configText)"]
        if let topicRouting { parts.append("topic_routing: \(topicRouting)") }
        if let deadLetterTopic { parts.append("dead_letter_topic: \(deadLetterTopic)") }
        parts.append("max_payload_bytes: \(maxPayloadBytes)")
        return "MQTTConfiguration(" + parts.joined(separator: ", ") + ")"
    }
}

extension RecordKeySpec {
    /// The spelling of this key in the YAML (`none`, `topic`, `json:FIELD`, `property:NAME`).
    public var configText: String {
        switch self {
        case .none: "none"
        case .topic: "topic"
        case .jsonField(let field): "json:\(field)"
        case .property(let name): "property:\(name)"
        }
    }
}

/// FNV-1a, 64 bits: a tiny hash that is the same on every run and every machine
/// (unlike `Hasher`, which is seeded per process).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
        // A separator, so ("ab", "c") and ("a", "bc") hash differently.
        add(0)
    }

    mutating func add(_ byte: UInt8) {
        value ^= UInt64(byte)
        value = value &* 0x0000_0100_0000_01b3
    }
}
