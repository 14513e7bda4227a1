/// One MQTT source to run: a connector file's single source, or one `sources.NAME` of a rivven-connect file.
public struct SourceConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The source name: `NAME` in a rivven-connect file; `name:` or `"mqtt-source"` in a connector file.
    public var name: String
    /// The Rivven topic the records go to (`topic:`, required).
    public var topic: String
    /// The MQTT side (`config:`).
    public var mqtt: MQTTConfiguration
    /// Where `config:` sits in the file: `"config"` for a connector file, `"sources.NAME.config"` for
    /// rivven-connect. Callers prefix their own messages about a key with it.
    public var configPathPrefix: String
    /// rivven-connect per-source keys that are accepted for compatibility but have no effect here
    /// (`transforms`, `rate_limit`, `tables`, `schema_registry_url`, `topic_config`), as dotted paths.
    /// The caller should warn once about each.
    public var ignoredKeys: [String]

    /// Creates a source.
    public init(
        name: String = "mqtt-source",
        topic: String,
        mqtt: MQTTConfiguration,
        configPathPrefix: String = "config",
        ignoredKeys: [String] = []
    ) {
        self.name = name
        self.topic = topic
        self.mqtt = mqtt
        self.configPathPrefix = configPathPrefix
        self.ignoredKeys = ignoredKeys
    }

    /// The source with its settings; the password is `***`.
    public var description: String {
        "SourceConfiguration(name: \(name), topic: \(topic), mqtt: \(mqtt))"
    }
}

/// TLS to Rivven (`broker.tls.*`).
public struct RivvenTLSConfiguration: Sendable, Equatable {
    /// `enabled` (default `false`).
    public var enabled: Bool
    /// `ca_path`: PEM CAs to trust; `nil` = the system CAs.
    public var caPath: String?
    /// `cert_path`: client certificate (needs `key_path`).
    public var certPath: String?
    /// `key_path`: client key (needs `cert_path`).
    public var keyPath: String?
    /// `insecure` (default `false`): skip server certificate verification (testing only).
    public var insecure: Bool
    /// `server_name`: the SNI / verification name when it differs from the host.
    public var serverName: String?

    /// Creates TLS settings; TLS is off by default.
    public init(
        enabled: Bool = false,
        caPath: String? = nil,
        certPath: String? = nil,
        keyPath: String? = nil,
        insecure: Bool = false,
        serverName: String? = nil
    ) {
        self.enabled = enabled
        self.caPath = caPath
        self.certPath = certPath
        self.keyPath = keyPath
        self.insecure = insecure
        self.serverName = serverName
    }
}

/// The Rivven broker (`broker:`). `nil` in ``IngestConfiguration`` when no servers are configured:
/// then the local log is the only sink.
///
/// | key | default |
/// |---|---|
/// | `bootstrap_servers` (list of `host:port`; or `address: host:port`) | required for this section |
/// | `tls.{enabled, ca_path, cert_path, key_path, insecure, server_name}` | off |
/// | `auth.{username, password}` | none |
/// | `create_topic` | `true` |
/// | `partitions` | 1 (1…1000) |
/// | `idempotent` | `true` |
/// | `metadata_refresh_ms`, `connection_timeout_ms`, `request_timeout_ms` | accepted (rivven-connect keys) |
public struct RivvenConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `bootstrap_servers` as `host:port` (IPv6 as `[::1]:9092`), tried in order.
    public var bootstrapServers: [String]
    /// `tls`.
    public var tls: RivvenTLSConfiguration
    /// `auth.username`.
    public var username: String?
    /// `auth.password` (redacted in every description).
    public var password: Secret?
    /// `create_topic` (default `true`).
    public var createTopic: Bool
    /// `partitions` (default 1).
    public var partitions: Int
    /// `idempotent` (default `true`).
    public var idempotent: Bool

    /// Creates a broker section with the defaults of SPEC §3.2.
    public init(
        bootstrapServers: [String],
        tls: RivvenTLSConfiguration = RivvenTLSConfiguration(),
        username: String? = nil,
        password: Secret? = nil,
        createTopic: Bool = true,
        partitions: Int = 1,
        idempotent: Bool = true
    ) {
        self.bootstrapServers = bootstrapServers
        self.tls = tls
        self.username = username
        self.password = password
        self.createTopic = createTopic
        self.partitions = partitions
        self.idempotent = idempotent
    }

    /// The settings, with the password as `***`.
    public var description: String {
        var parts = ["bootstrap_servers: \(bootstrapServers)", "tls: \(tls.enabled)"]
        if let username { parts.append("username: \(username)") }
        if let password { parts.append("password: \(password)") }
        parts += ["create_topic: \(createTopic)", "partitions: \(partitions)", "idempotent: \(idempotent)"]
        return "RivvenConfiguration(" + parts.joined(separator: ", ") + ")"
    }
}

/// Batching (`batch:`): a batch closes at the first limit reached.
public struct BatchConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `max_messages` (default 1000, 1…10000: the Rivven protocol's list limit).
    public var maxMessages: Int
    /// `max_bytes` (default 1 MiB, 1 KiB…8 MiB: a batch must fit Rivven's 10 MiB frame).
    public var maxBytes: Int
    /// `linger_ms` (default 5, 0…10000).
    public var lingerMs: Int

    /// Creates batching settings.
    public init(maxMessages: Int = 1000, maxBytes: Int = 1 << 20, lingerMs: Int = 5) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.lingerMs = lingerMs
    }
}

/// The in-memory ring (`buffer:`).
public struct BufferConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `capacity_messages` (default 65536; a power of two, 1024…16777216).
    public var capacityMessages: Int
    /// `capacity_bytes` (default 64 MiB, 1 MiB…64 GiB; at least every source's `max_payload_bytes`).
    public var capacityBytes: Int
    /// `when_full` (default `.block`).
    public var whenFull: WhenFull

    /// Creates ring settings.
    public init(capacityMessages: Int = 65_536, capacityBytes: Int = 64 << 20, whenFull: WhenFull = .block) {
        self.capacityMessages = capacityMessages
        self.capacityBytes = capacityBytes
        self.whenFull = whenFull
    }
}

/// The local log (`log:`).
public struct LogConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `dir` (default `./data`).
    public var dir: String
    /// `max_bytes` (default 1 GiB; at least `segment_bytes`).
    public var maxBytes: Int
    /// `segment_bytes` (default 64 MiB, 1 MiB…1 GiB).
    public var segmentBytes: Int
    /// `fsync` (default `.batch`).
    public var fsync: FsyncPolicy

    /// Creates local-log settings.
    public init(
        dir: String = "./data",
        maxBytes: Int = 1 << 30,
        segmentBytes: Int = 64 << 20,
        fsync: FsyncPolicy = .batch
    ) {
        self.dir = dir
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        self.fsync = fsync
    }
}

/// The HTTP metrics endpoint (`metrics:`).
public struct MetricsConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `listen` as `host:port` (default `127.0.0.1:9464`); `nil` when `off`. Port 0 takes a free port, which the
    /// log line "metrics endpoint listening" names.
    public var listen: String?
    /// `prefix` (default `rivven`): a Prometheus name prefix, `[A-Za-z_][A-Za-z0-9_]*`.
    public var prefix: String

    /// Creates metrics settings.
    public init(listen: String? = "127.0.0.1:9464", prefix: String = "rivven") {
        self.listen = listen
        self.prefix = prefix
    }
}

/// The whole validated configuration file.
///
/// Two shapes are accepted (SPEC §3): a connector file (`type: mqtt-source`, `topic`, `config`, optional
/// `name`) and a rivven-connect file (`version`, `broker`, `sources`, `sinks`, `settings`). Both may carry
/// this product's `broker`, `batch`, `buffer`, `log` and `metrics` sections.
///
/// Conventions of the file:
/// - `${VAR}` and `${VAR:-default}` are expanded in every string value before it is converted (the default
///   applies when VAR is unset or empty); `$$` is not special; a missing VAR without default is a problem.
/// - Sizes (`max_bytes`, `capacity_bytes`, `segment_bytes`, `max_payload_bytes`) are bytes, or a whole number
///   with a unit: `KB`/`MB`/`GB`/`TB` are powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` powers of 1024 (`64MiB`,
///   `1 GiB`, `1MB`); a bare `K`/`M`/`G` is rejected as ambiguous.
/// - Unknown keys are problems (with a "did you mean" hint); `<<:` merge keys and anchors work.
/// - rivven-connect's `sinks`, `settings` and `distributed` sections are accepted and ignored; non-MQTT
///   sources are listed in ``skippedConnectors``; a source with `enabled: false` is checked but not run.
public struct IngestConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// The MQTT sources to run, in file order (at least one).
    public var sources: [SourceConfiguration]
    /// The Rivven broker, or `nil` for the local log only.
    public var rivven: RivvenConfiguration?
    /// `batch:`.
    public var batch: BatchConfiguration
    /// `buffer:`.
    public var buffer: BufferConfiguration
    /// `log:`.
    public var log: LogConfiguration
    /// `metrics:`.
    public var metrics: MetricsConfiguration
    /// Names of the non-MQTT sources of a rivven-connect file, skipped; the caller warns once about each.
    public var skippedConnectors: [String]

    /// Creates a configuration from its sections.
    public init(
        sources: [SourceConfiguration],
        rivven: RivvenConfiguration? = nil,
        batch: BatchConfiguration = BatchConfiguration(),
        buffer: BufferConfiguration = BufferConfiguration(),
        log: LogConfiguration = LogConfiguration(),
        metrics: MetricsConfiguration = MetricsConfiguration(),
        skippedConnectors: [String] = []
    ) {
        self.sources = sources
        self.rivven = rivven
        self.batch = batch
        self.buffer = buffer
        self.log = log
        self.metrics = metrics
        self.skippedConnectors = skippedConnectors
    }

    /// Every setting; passwords are `***`.
    public var description: String {
        var parts = ["sources: [" + sources.map(\.description).joined(separator: ", ") + "]"]
        parts.append("rivven: \(rivven.map(\.description) ?? "none (local log only)")")
        parts.append("batch: {\(batch)}")
        parts.append("buffer: {\(buffer)}")
        parts.append("log: {\(log)}")
        parts.append("metrics: {\(metrics)}")
        if !skippedConnectors.isEmpty { parts.append("skipped: \(skippedConnectors)") }
        return "IngestConfiguration(" + parts.joined(separator: ", ") + ")"
    }
}

extension BatchConfiguration {
    /// The settings with their YAML key names.
    public var description: String {
        "max_messages \(maxMessages), max_bytes \(maxBytes), linger_ms \(lingerMs)"
    }
}

extension BufferConfiguration {
    /// The settings with their YAML key names.
    public var description: String {
        "capacity_messages \(capacityMessages), capacity_bytes \(capacityBytes), when_full \(whenFull.rawValue)"
    }
}

extension LogConfiguration {
    /// The settings with their YAML key names.
    public var description: String {
        "dir \(dir), max_bytes \(maxBytes), segment_bytes \(segmentBytes), fsync \(fsync)"
    }
}

extension MetricsConfiguration {
    /// The settings with their YAML key names.
    public var description: String {
        "listen \(listen ?? "off"), prefix \(prefix)"
    }
}

extension FsyncPolicy: CustomStringConvertible {
    /// The YAML spelling: `batch`, `never` or `interval:MS`.
    public var description: String {
        switch self {
        case .batch: "batch"
        case .never: "never"
        case .interval(let milliseconds): "interval:\(milliseconds)"
        }
    }
}
