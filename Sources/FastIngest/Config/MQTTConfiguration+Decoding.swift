extension MQTTConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case brokerURL = "broker_url"
        case topics
        case clientID = "client_id"
        case qos
        case cleanSession = "clean_session"
        case keepAliveSecs = "keep_alive_secs"
        case connectTimeoutSecs = "connect_timeout_secs"
        case mqttVersion = "mqtt_version"
        case auth
        case tls
        case maxInflight = "max_inflight"
        case reconnectDelayMs = "reconnect_delay_ms"
        case maxReconnectAttempts = "max_reconnect_attempts"
        case retryInitialMs = "retry_initial_ms"
        case retryMaxMs = "retry_max_ms"
        case retryMultiplier = "retry_multiplier"
        case parseJSONPayload = "parse_json_payload"
        case includeMetadata = "include_metadata"
        case emptyPollDelayMs = "empty_poll_delay_ms"
        case lastWill = "last_will"
        case sharedGroup = "shared_group"
        case connections
        case format
        case key
        case topicRouting = "topic_routing"
        case deadLetterTopic = "dead_letter_topic"
        case maxPayloadBytes = "max_payload_bytes"
    }

    /// Advice for keys that belong in a nested section or next to `config:`.
    static let misplacedKeyHints = [
        "username": "did you mean `auth.username`?",
        "password": "did you mean `auth.password`?",
        "ca_cert": "did you mean `tls.ca_cert`?",
        "client_cert": "did you mean `tls.client_cert`?",
        "client_key": "did you mean `tls.client_key`?",
        "insecure": "did you mean `tls.insecure`?",
        "topic": "did you mean `topics` (a list)? The Rivven topic is `topic:` next to `config:`",
    ]

    /// Decodes the `config:` mapping of a source, named `mqtt-source` as in a connector file without `name:`.
    ///
    /// Every bad key is reported to the decoder's ``ConfigurationProblemCollector`` (or, decoded on its own,
    /// thrown together as a ``ConfigurationError``); see ``init(from:sourceName:)``.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, sourceName: "mqtt-source")
    }

    /// Decodes the `config:` mapping of the source `sourceName`.
    ///
    /// Optional keys that are bad are reported and keep their defaults; the configuration cannot be made without
    /// a valid `broker_url`, valid `topics` and usable TLS files. When `client_id` is not set it is derived from
    /// the host name (`userInfo[.configurationHostName]`, default this machine's), the broker, the topics and
    /// `sourceName`.
    init(from decoder: any Decoder, sourceName: String) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        let brokerURL = container.parsed(.brokerURL, required: true, hint: " (such as `mqtt://broker:1883`)") { text in
            do throws(BrokerURLError) {
                return .success(try BrokerURL.parse(text))
            } catch {
                return .failure(ConfigValueProblem(error.description))
            }
        }
        let topics = Self.topicFilters(container)
        let clientID = container.string(.clientID, validate: Self.clientIDProblem)
        let qos = container.choice(.qos, MQTTQoS.configChoices, shown: MQTTQoS.configNames)
        let cleanSession = container.bool(.cleanSession)
        let keepAlive = container.integer(.keepAliveSecs, in: 5...65535)
        let connectTimeout = container.integer(.connectTimeoutSecs, in: 1...300)
        let version = container.choice(.mqttVersion, MQTTProtocolVersion.configChoices, shown: ["v3", "v311", "v5"])
        let auth = container.section(.auth, as: MQTTAuthSection.self)
        let tlsSection = container.section(.tls, as: MQTTTLSSection.self)
        let tls = Self.tlsConfiguration(tls: tlsSection, auth: auth, problems: container.problems)
        let maxInflight = container.integer(.maxInflight, in: 1...65535)
        let reconnectDelay = container.integer(.reconnectDelayMs, in: 100...60000)
        let maxReconnectAttempts = container.integer(.maxReconnectAttempts, in: 0...Int(UInt32.max))
        let retryInitial = container.integer(.retryInitialMs, in: 10...60000)
        let retryMax = container.integer(.retryMaxMs, in: 100...300_000)
        let retryMultiplier = container.number(.retryMultiplier, in: 1.0...10.0)
        if let retryInitial, let retryMax, retryMax < retryInitial {
            container.report(.retryMaxMs, "\(retryMax) is below retry_initial_ms (\(retryInitial))")
        }
        let parseJSON = container.bool(.parseJSONPayload)
        let includeMetadata = container.bool(.includeMetadata)
        let emptyPollDelay = container.integer(.emptyPollDelayMs, in: 0...60000)
        let lastWill = container.section(.lastWill, as: MQTTLastWill.self)
        let sharedGroup = container.string(.sharedGroup, validate: MQTTTopic.shareGroupProblem)
        let connections = container.integer(.connections, in: 1...64)
        if let connections, connections > 1, sharedGroup == nil, !container.contains(.sharedGroup) {
            container.report(
                .connections,
                "\(connections) connections need `shared_group`: without a shared subscription every connection "
                    + "would receive every message"
            )
        }
        if sharedGroup != nil, let topics {
            for item in topics where item.text.hasPrefix(MQTTTopic.sharePrefix) {
                container.problems.report(item.path, "is already a `$share/` filter; remove it or `shared_group`")
            }
        }
        let format = container.choice(.format, ["envelope": RecordFormat.envelope, "raw": .raw])
        let key = container.parsed(.key, RecordKeySpec.parse(configText:))
        let topicRouting = container.string(.topicRouting, validate: Self.topicRoutingProblem)
        let deadLetterTopic = container.string(.deadLetterTopic, validate: RivvenTopicName.problem)
        let maxPayload = container.size(.maxPayloadBytes, in: 1...(256 << 20))
        try container.finish(hints: Self.misplacedKeyHints)

        guard let brokerURL, let topics, let tls else { throw container.invalid() }
        let topicTexts = topics.map(\.text)
        let hostName = container.userInfo[.configurationHostName] as? String ?? IngestConfiguration.currentHostName()
        self.init(
            brokerURL: brokerURL,
            topics: topicTexts,
            clientID: clientID
                ?? Self.derivedClientID(
                    hostName: hostName,
                    brokerURL: brokerURL.original,
                    topics: topicTexts,
                    sourceName: sourceName
                ),
            clientIDIsDerived: clientID == nil,
            qos: qos ?? .atMostOnce,
            cleanSession: cleanSession ?? true,
            keepAliveSecs: keepAlive ?? 60,
            connectTimeoutSecs: connectTimeout ?? 30,
            protocolVersion: version ?? .v311,
            username: auth?.username,
            password: auth?.password,
            tls: tls,
            maxInflight: maxInflight ?? 100,
            reconnectDelayMs: reconnectDelay ?? 5000,
            maxReconnectAttempts: maxReconnectAttempts ?? 0,
            retryInitialMs: retryInitial ?? 100,
            retryMaxMs: retryMax ?? 10_000,
            retryMultiplier: retryMultiplier ?? 2.0,
            parseJSONPayload: parseJSON ?? true,
            includeMetadata: includeMetadata ?? true,
            emptyPollDelayMs: emptyPollDelay ?? 50,
            lastWill: lastWill,
            sharedGroup: sharedGroup,
            connections: connections ?? 1,
            format: format ?? .envelope,
            key: key,
            topicRouting: topicRouting,
            deadLetterTopic: deadLetterTopic,
            maxPayloadBytes: maxPayload ?? (1 << 20)
        )
    }

    /// `topics`: at least one valid filter and no repeats; `nil` otherwise (reported).
    private static func topicFilters(_ container: ConfigContainer<CodingKeys>) -> [ConfigListItem]? {
        guard let items = container.list(.topics, of: "MQTT topic filters") else {
            if container.isMissing(.topics) {
                container.report(.topics, "required: at least one MQTT topic filter, such as `[sensors/#]`")
            }
            return nil
        }
        guard !items.isEmpty else {
            container.report(.topics, "needs at least one MQTT topic filter, such as `[sensors/#]`")
            return nil
        }
        var valid = true
        for (index, item) in items.enumerated() {
            if let problem = MQTTTopic.filterProblem(item.text) {
                container.problems.report(item.path, problem)
                valid = false
            } else if let first = items[..<index].firstIndex(where: { $0.text == item.text }) {
                container.problems.report(item.path, "duplicates \(container.path(.topics).dotted)[\(first)]")
                valid = false
            }
        }
        return valid ? items : nil
    }

    /// The TLS settings from `tls` and `auth`, where a file may be named in either place (the same path in both
    /// is fine); `nil` when a file is unusable, named twice differently, or without its pair (reported).
    private static func tlsConfiguration(
        tls: MQTTTLSSection?,
        auth: MQTTAuthSection?,
        problems: ConfigurationProblemCollector
    ) -> MQTTTLSConfiguration? {
        var chosen: [MQTTTLSFiles.Kind: (path: String, section: ConfigPath)] = [:]
        var complete = true
        for kind in MQTTTLSFiles.Kind.allCases {
            for files in [tls?.files, auth?.files].compactMap({ $0 }) {
                switch files.named[kind] {
                case nil:
                    continue
                case .unusable:
                    complete = false
                case .readable(let path):
                    if let earlier = chosen[kind], earlier.path != path {
                        problems.report(
                            files.section.appending(kind.rawValue),
                            "conflicts with `\(earlier.section.appending(kind.rawValue).dotted)`; "
                                + "give the file in one place only"
                        )
                        complete = false
                    } else if chosen[kind] == nil {
                        chosen[kind] = (path, files.section)
                    }
                }
            }
        }
        if let key = chosen[.clientKey], chosen[.clientCert] == nil {
            problems.report(key.section.appending("client_key"), "a client key needs `client_cert` too")
            complete = false
        }
        if let cert = chosen[.clientCert], chosen[.clientKey] == nil {
            problems.report(cert.section.appending("client_cert"), "a client certificate needs `client_key` too")
            complete = false
        }
        guard complete else { return nil }
        return MQTTTLSConfiguration(
            caCert: chosen[.caCert]?.path,
            clientCert: chosen[.clientCert]?.path,
            clientKey: chosen[.clientKey]?.path,
            insecure: tls?.insecure ?? false
        )
    }

    static func clientIDProblem(_ id: String) -> String? {
        if id.isEmpty { return "cannot be empty; leave `client_id` out to get a stable derived id" }
        if id.unicodeScalars.contains("\u{0}") { return "cannot contain a NUL character" }
        if id.utf8.count > 65535 { return "is longer than MQTT allows (65535 bytes)" }
        return nil
    }

    /// `nil` when the template has only literal Rivven-topic characters, `{N}` (N ≥ 1) and `{topic}`.
    static func topicRoutingProblem(_ template: String) -> String? {
        if template.isEmpty { return "the template is empty" }
        var index = template.startIndex
        var first = true
        while index < template.endIndex {
            let character = template[index]
            if character == "{" {
                guard let close = template[index...].firstIndex(of: "}") else {
                    return "unclosed `{` in the template"
                }
                let name = template[template.index(after: index)..<close]
                let isLevel = !name.isEmpty && name.allSatisfy { $0.isASCII && $0.isNumber } && (Int(name) ?? 0) >= 1
                guard isLevel || name == "topic" else {
                    return "unknown placeholder `{\(name)}`; use `{N}` (the N-th MQTT topic level, N ≥ 1) or `{topic}`"
                }
                index = template.index(after: close)
            } else if character == "}" {
                return "`}` without a matching `{`"
            } else {
                guard character.unicodeScalars.allSatisfy(RivvenTopicName.isAllowed) else {
                    return "`\(character)` can never be part of a Rivven topic name (letters, digits, `.`, `_`, `-`)"
                }
                if first, !(character.isASCII && (character.isLetter || character.isNumber)) {
                    return "a Rivven topic name must start with a letter or a digit"
                }
                index = template.index(after: index)
            }
            first = false
        }
        return nil
    }
}

extension MQTTQoS {
    /// The spellings `qos:` accepts.
    static let configChoices: KeyValuePairs<String, MQTTQoS> = [
        "at_most_once": .atMostOnce, "at_least_once": .atLeastOnce, "exactly_once": .exactlyOnce,
        "0": .atMostOnce, "1": .atLeastOnce, "2": .exactlyOnce,
    ]
    /// The spellings messages list.
    static let configNames = ["at_most_once", "at_least_once", "exactly_once", "0", "1", "2"]
}

extension MQTTProtocolVersion {
    /// The spellings `mqtt_version:` accepts.
    static let configChoices: KeyValuePairs<String, MQTTProtocolVersion> = [
        "v3": .v3, "3.1": .v3, "v311": .v311, "3.1.1": .v311, "v5": .v5, "5": .v5, "5.0": .v5,
    ]
}

extension RecordKeySpec {
    /// Parses `none`, `topic`, `json:FIELD` or `property:NAME` (the inverse of ``configText``).
    static func parse(configText text: String) -> Result<RecordKeySpec, ConfigValueProblem> {
        switch text {
        case "none": return .success(RecordKeySpec.none)
        case "topic": return .success(.topic)
        default: break
        }
        for (prefix, make) in [("json:", RecordKeySpec.jsonField), ("property:", RecordKeySpec.property)] {
            guard text.hasPrefix(prefix) else { continue }
            let name = String(text.dropFirst(prefix.count))
            guard !name.isEmpty else {
                return .failure(
                    ConfigValueProblem("`\(prefix)` needs a name after the colon, as in `\(prefix)device_id`")
                )
            }
            return .success(make(name))
        }
        return .failure(
            ConfigValueProblem(
                "expected `none`, `topic`, `json:FIELD` or `property:NAME`, got \(ConfigText.show(text))"
            )
        )
    }
}

extension MQTTLastWill: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case topic, message, payload, qos, retain
    }

    /// Decodes `config.last_will`; it cannot be made without a valid `topic`.
    public init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        let topic = container.string(.topic, required: true, validate: MQTTTopic.nameProblem)
        let message = container.string(.message)
        let payload = container.string(.payload)
        if container.contains(.message) && container.contains(.payload) {
            container.report(.payload, "give either `message` or its alias `payload`, not both")
        }
        let qos = container.choice(.qos, MQTTQoS.configChoices, shown: MQTTQoS.configNames)
        let retain = container.bool(.retain)
        try container.finish()
        guard let topic else { throw container.invalid() }
        self.init(
            topic: topic,
            message: Array((message ?? payload ?? "").utf8),
            qos: qos ?? .atMostOnce,
            retain: retain ?? false
        )
    }
}

/// The TLS files one section of a source names (`config.tls` or `config.auth`).
struct MQTTTLSFiles {
    enum Kind: String, CaseIterable {
        case caCert = "ca_cert"
        case clientCert = "client_cert"
        case clientKey = "client_key"
    }

    /// The path of the section.
    var section: ConfigPath
    /// The files named there.
    var named: [Kind: ReadableFile] = [:]

    init(section: ConfigPath, caCert: ReadableFile?, clientCert: ReadableFile?, clientKey: ReadableFile?) {
        self.section = section
        named[.caCert] = caCert
        named[.clientCert] = clientCert
        named[.clientKey] = clientKey
    }
}

/// `config.auth`: the MQTT credentials, and TLS files, which Rivven's mqtt-source keeps here.
struct MQTTAuthSection: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case username, password
        case caCert = "ca_cert"
        case clientCert = "client_cert"
        case clientKey = "client_key"
    }

    var username: String?
    var password: Secret?
    var files: MQTTTLSFiles

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        username = container.string(.username)
        password = container.string(.password).map(Secret.init)
        files = MQTTTLSFiles(
            section: container.path,
            caCert: container.readableFile(.caCert),
            clientCert: container.readableFile(.clientCert),
            clientKey: container.readableFile(.clientKey)
        )
        try container.finish()
    }
}

/// `config.tls`.
struct MQTTTLSSection: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case insecure
        case caCert = "ca_cert"
        case clientCert = "client_cert"
        case clientKey = "client_key"
    }

    var insecure: Bool?
    var files: MQTTTLSFiles

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        insecure = container.bool(.insecure)
        files = MQTTTLSFiles(
            section: container.path,
            caCert: container.readableFile(.caCert),
            clientCert: container.readableFile(.clientCert),
            clientKey: container.readableFile(.clientKey)
        )
        try container.finish()
    }
}
