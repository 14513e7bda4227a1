/// A whole configuration file, in one of the two shapes of SPEC §3: a connector file (`type: mqtt-source`,
/// `topic`, `config`, optional `name`) or a rivven-connect file (`version`, `broker`, `sources`, `sinks`,
/// `settings`). Both may carry this product's `broker`, `batch`, `buffer`, `log` and `metrics` sections.
struct ConfigurationFile: Decodable {
    static let mqttConnectorNames = ["mqtt-source", "mqtt"]
    static let shapeHelp =
        "expected a connector file (`type: mqtt-source`, `topic`, `config`) or a rivven-connect file (`sources:`)"

    var configuration: IngestConfiguration
    /// Whether `buffer.capacity_bytes` is in the file (messages call the default "the default").
    var bufferCapacityBytesGiven: Bool

    /// Tells the shape by the root keys and decodes it; the file cannot be made when its shape cannot be told or
    /// a source or the broker is invalid.
    init(from decoder: any Decoder) throws {
        let root = try ConfigContainer(decoder, keyedBy: AnyKey.self)
        let keys = root.allKeys
        if keys.contains("type") || keys.contains("config") {
            self.init(try ConnectorFile(from: decoder))
        } else if ConnectorFile.rivvenConnectKeys.contains(where: { keys.contains($0.stringValue) }) {
            self.init(try RivvenConnectFile(from: decoder))
        } else if keys.contains("topic") || keys.contains("name") {
            self.init(try ConnectorFile(from: decoder))
        } else {
            root.problems.report(
                ConfigurationError.Problem.fileLevel,
                "cannot tell the kind of file: " + Self.shapeHelp,
                at: root.path
            )
            throw root.invalid()
        }
    }

    private init(sources: [SourceConfiguration], skippedConnectors: [String] = [], sections: SharedSections) {
        configuration = IngestConfiguration(
            sources: sources,
            rivven: sections.rivven,
            batch: sections.batch,
            buffer: sections.buffer,
            log: sections.log,
            metrics: sections.metrics,
            skippedConnectors: skippedConnectors
        )
        bufferCapacityBytesGiven = sections.bufferCapacityBytesGiven
    }

    private init(_ file: ConnectorFile) {
        self.init(sources: [file.source], sections: file.sections)
    }

    private init(_ file: RivvenConnectFile) {
        self.init(sources: file.sources, skippedConnectors: file.skippedConnectors, sections: file.sections)
    }
}

extension IngestConfiguration {
    /// The checks between sections: every payload a source accepts must fit the buffer, and no two connections
    /// may share a client id. These problems have no single place in the file.
    func crossSectionProblems(bufferCapacityBytesGiven: Bool) -> [ConfigurationError.Problem] {
        var problems: [ConfigurationError.Problem] = []
        var seenClientIDs: [String: String] = [:]
        for source in sources {
            if source.mqtt.maxPayloadBytes > buffer.capacityBytes {
                let origin = bufferCapacityBytesGiven ? "" : " (the default)"
                problems.append(
                    ConfigurationError.Problem(
                        path: "\(source.configPathPrefix).max_payload_bytes",
                        message: "\(ByteSize.format(source.mqtt.maxPayloadBytes)) is larger than "
                            + "buffer.capacity_bytes \(ByteSize.format(buffer.capacityBytes))\(origin), "
                            + "so such a message could never be buffered"
                    )
                )
            }
            for id in source.mqtt.allClientIDs {
                if let other = seenClientIDs[id] {
                    problems.append(
                        ConfigurationError.Problem(
                            path: "\(source.configPathPrefix).client_id",
                            message: "client id `\(id)` is also used by source `\(other)`; "
                                + "the broker would disconnect one of them"
                        )
                    )
                } else {
                    seenClientIDs[id] = source.name
                }
            }
        }
        return problems
    }
}

/// Root keys of the sections both file shapes share.
protocol SharedSectionKeys: ConfigurationKey {
    static var broker: Self { get }
    static var batch: Self { get }
    static var buffer: Self { get }
    static var log: Self { get }
    static var metrics: Self { get }
}

/// `broker`, `batch`, `buffer`, `log` and `metrics` at the root of either file shape.
struct SharedSections {
    /// `nil` when there is no `broker` or it names no servers: then the local log is the only sink.
    var rivven: RivvenConfiguration?
    var batch: BatchConfiguration
    var buffer: BufferConfiguration
    var log: LogConfiguration
    var metrics: MetricsConfiguration
    var bufferCapacityBytesGiven: Bool

    /// Reads the sections, each absent one with its defaults; `nil` when `broker` is there but invalid.
    init?<Key: SharedSectionKeys>(_ container: ConfigContainer<Key>) {
        let broker = container.section(.broker, as: RivvenConfiguration.self)
        batch = container.section(.batch) ?? BatchConfiguration()
        buffer = container.section(.buffer) ?? BufferConfiguration()
        log = container.section(.log) ?? LogConfiguration()
        metrics = container.section(.metrics) ?? MetricsConfiguration()
        bufferCapacityBytesGiven = container.nestedMapping(.buffer, contains: "capacity_bytes")
        if broker == nil, !container.isMissing(.broker) { return nil }
        rivven = broker.flatMap { $0.bootstrapServers.isEmpty ? nil : $0 }
    }
}

/// Keys of a mapping that holds one source: the root of a connector file, or `sources.NAME`.
protocol SourceKeys: ConfigurationKey {
    static var topic: Self { get }
    static var config: Self { get }
}

extension SourceConfiguration {
    /// Reads `topic` and `config` of the source `name`; `nil` when either is missing or invalid (reported).
    static func read<Key: SourceKeys>(
        from container: ConfigContainer<Key>,
        name: String,
        ignoredKeys: [String]
    ) -> SourceConfiguration? {
        let topic = container.string(.topic, required: true, validate: RivvenTopicName.problem)
        let mqtt = container.section(.config) { decoder in try MQTTConfiguration(from: decoder, sourceName: name) }
        if mqtt == nil, container.isMissing(.config) {
            container.report(.config, "required: the MQTT source settings (`broker_url`, `topics`, …)")
        }
        guard let topic, let mqtt else { return nil }
        return SourceConfiguration(
            name: name,
            topic: topic,
            mqtt: mqtt,
            configPathPrefix: container.path(.config).dotted,
            ignoredKeys: ignoredKeys
        )
    }
}

/// A connector file: one MQTT source at the root.
struct ConnectorFile: Decodable {
    enum CodingKeys: String, ConfigurationKey, SourceKeys, SharedSectionKeys {
        case type, name
        // A rivven-connect file's keys, known here only to say where they belong.
        case version, sources, sinks, settings, distributed
        case topic, config
        case broker, batch, buffer, log, metrics
    }

    /// Keys that only a rivven-connect file has.
    static let rivvenConnectKeys: [CodingKeys] = [.version, .sources, .sinks, .settings, .distributed]

    var source: SourceConfiguration
    var sections: SharedSections

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        let type = container.string(.type)
        if type == nil, !container.contains(.type) {
            container.report(.type, "required (`mqtt-source`)")
        } else if let type, !ConfigurationFile.mqttConnectorNames.contains(type) {
            container.report(
                .type,
                "`\(type)` is not an MQTT connector; rivven-mqtt runs `mqtt-source` (or `mqtt`) only"
            )
        }
        let name = container.string(.name, validate: { $0.isEmpty ? "the source name cannot be empty" : nil })
        for key in Self.rivvenConnectKeys where container.contains(key) {
            container.report(
                key,
                "`\(key.stringValue)` belongs in a rivven-connect file; a connector file "
                    + "(`type: \(type ?? "mqtt-source")`) describes exactly one source, so put several sources "
                    + "in a rivven-connect file's `sources:`"
            )
        }
        let source = SourceConfiguration.read(from: container, name: name ?? "mqtt-source", ignoredKeys: [])
        let sections = SharedSections(container)
        try container.finish(knownOnlyIfPresent: Self.rivvenConnectKeys)
        guard let source, let sections else { throw container.invalid() }
        self.source = source
        self.sections = sections
    }
}

/// A rivven-connect file: named sources, of which the MQTT ones run here.
struct RivvenConnectFile: Decodable {
    enum CodingKeys: String, ConfigurationKey, SharedSectionKeys {
        case version, sinks, settings, distributed, sources
        case broker, batch, buffer, log, metrics
    }

    /// Advice for source keys written at the root.
    static let misplacedKeyHints = [
        "topic": "`topic` belongs inside a source (`sources.NAME.topic`)",
        "type": "`type` belongs inside a source (`sources.NAME.connector`)",
    ]

    /// The enabled MQTT sources, in file order.
    var sources: [SourceConfiguration] = []
    /// The sources of other connectors.
    var skippedConnectors: [String] = []
    var sections: SharedSections

    init(from decoder: any Decoder) throws {
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        _ = container.string(.version)
        // rivven-connect's other parts: accepted and ignored.
        for key in [CodingKeys.sinks, .settings, .distributed] {
            _ = container.section(key, as: IgnoredSection.self)
        }
        var valid = true
        if let entries = container.section(.sources, as: ConnectSources.self) {
            var skippedKinds: [String] = []
            for (name, entry) in entries.sources {
                switch entry {
                case .mqtt(let source): sources.append(source)
                case .disabled: break
                case .skipped(let connector):
                    skippedConnectors.append(name)
                    skippedKinds.append("`\(name)` (\(connector))")
                case nil: valid = false
                }
            }
            if sources.isEmpty, valid {
                var message = "no enabled MQTT source (`connector: mqtt-source`)"
                if !skippedKinds.isEmpty { message += "; skipped " + skippedKinds.joined(separator: ", ") }
                container.report(.sources, message)
            }
        } else if container.isMissing(.sources) {
            container.report(.sources, "required: at least one source with `connector: mqtt-source`")
        }
        let sections = SharedSections(container)
        try container.finish(hints: Self.misplacedKeyHints)
        guard valid, let sections else { throw container.invalid() }
        self.sections = sections
    }
}
