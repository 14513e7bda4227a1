/// `sources:` of a rivven-connect file: each source by name, in file order.
struct ConnectSources: Decodable {
    /// Each source; `nil` for one that is not a mapping or is invalid (reported).
    var sources: [(name: String, source: ConnectSource?)] = []

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: AnyKey.self)
        for name in container.allKeys {
            sources.append((name, container.section(AnyKey(name), as: ConnectSource.self)))
        }
        try container.finishAcceptingEveryKey()
    }
}

/// One `sources.NAME` of a rivven-connect file.
enum ConnectSource: Decodable {
    /// An enabled MQTT source.
    case mqtt(SourceConfiguration)
    /// An MQTT source with `enabled: false`: checked, not run.
    case disabled
    /// A source of another connector, whose keys are its own business.
    case skipped(connector: String)

    enum CodingKeys: String, ConfigurationKey, SourceKeys {
        case connector, enabled
        case topicConfig = "topic_config"
        case rateLimit = "rate_limit"
        case tables, transforms
        case schemaRegistryURL = "schema_registry_url"
        case topic, config
    }

    /// Decodes the source; it cannot be made without a `connector`, or when its MQTT `topic` or `config` is
    /// invalid.
    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        guard let connector = container.string(.connector, required: true, hint: " (`mqtt-source`)") else {
            try container.finishAcceptingEveryKey()
            throw container.invalid()
        }
        guard ConfigurationFile.mqttConnectorNames.contains(connector) else {
            try container.finishAcceptingEveryKey()
            self = .skipped(connector: connector)
            return
        }
        let enabled = container.bool(.enabled) ?? true
        // rivven-connect per-source keys that have no effect here: checked, and listed for a warning.
        var ignored: [String] = []
        if container.section(.topicConfig, as: TopicConfigSection.self) != nil {
            ignored.append(container.path(.topicConfig).dotted)
        }
        if let rateLimit = container.section(.rateLimit, as: RateLimitSection.self), rateLimit.limitsAnything {
            ignored.append(container.path(.rateLimit).dotted)
        }
        for key in [CodingKeys.tables, .transforms] {
            switch container.value(key) {
            case nil:
                break
            case .list(let elements):
                if !elements.isEmpty { ignored.append(container.path(key).dotted) }
            case let value?:
                container.report(
                    key,
                    "expected a list, got \(container.problems.describe(value, at: container.path(key)))"
                )
            }
        }
        if let url = container.string(.schemaRegistryURL), !url.isEmpty {
            ignored.append(container.path(.schemaRegistryURL).dotted)
        }
        let name = decoder.codingPath.last?.stringValue ?? ""
        let source = SourceConfiguration.read(from: container, name: name, ignoredKeys: ignored)
        try container.finish()
        guard let source else { throw container.invalid() }
        self = enabled ? .mqtt(source) : .disabled
    }
}

/// `sources.NAME.topic_config` (rivven-connect's topic creation settings): checked, not used.
struct TopicConfigSection: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case partitions
        case replicationFactor = "replication_factor"
        case autoCreate = "auto_create"
    }

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        _ = container.integer(.partitions, in: 1...1000)
        _ = container.integer(.replicationFactor, in: 1...65535)
        _ = container.bool(.autoCreate)
        try container.finish()
    }
}

/// `sources.NAME.rate_limit` (rivven-connect's rate limits): checked, not used.
struct RateLimitSection: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case eventsPerSecond = "events_per_second"
        case maxInFlight = "max_in_flight"
        case burstSize = "burst_size"
    }

    /// `true` when a limit is set above 0 (0 means no limit).
    var limitsAnything: Bool

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        let limits = CodingKeys.allCases.map { container.integer($0, in: 0...Int.max) ?? 0 }
        limitsAnything = limits.contains { $0 > 0 }
        try container.finish()
    }
}

/// A section of a rivven-connect file that configures rivven-connect's other parts (`sinks`, `settings`,
/// `distributed`): it must be a mapping; nothing inside is read.
struct IgnoredSection: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: AnyKey.self)
        try container.finishAcceptingEveryKey()
    }
}
