import FastIngest

/// The `--help` discussion of the commands that read a configuration file: the default of every key left out of the
/// file. The values are read from the loader itself (a minimal file parsed when the help is built), so the text
/// cannot drift from what `run` does.
enum ConfigurationDefaultsHelp {
    /// The smallest valid connector file, plus a `broker:` section for the Rivven defaults.
    private static let minimalFile = """
        type: mqtt-source
        topic: t
        config:
          broker_url: mqtt://localhost
          topics: ["t"]
        broker:
          bootstrap_servers: ["localhost:9092"]
        """

    /// The help discussion.
    static let discussion: String = {
        let loaded = try? IngestConfiguration.parse(yaml: minimalFile, environment: [:], hostName: "localhost")
        guard let configuration = loaded, let source = configuration.sources.first, let rivven = configuration.rivven
        else {
            return "Configuration keys and their defaults: see the README (Configuration) and examples/."
        }
        let mqtt = source.mqtt
        let batch = configuration.batch
        let buffer = configuration.buffer
        let log = configuration.log
        let metrics = configuration.metrics
        let sections: [(String, [String])] = [
            (
                "config",
                [
                    "qos \(mqtt.qos.configName)", "clean_session \(mqtt.cleanSession)",
                    "keep_alive_secs \(mqtt.keepAliveSecs)", "connect_timeout_secs \(mqtt.connectTimeoutSecs)",
                    "mqtt_version \(mqtt.protocolVersion.rawValue)", "max_inflight \(mqtt.maxInflight)",
                    "connections \(mqtt.connections)", "retry_initial_ms \(mqtt.retryInitialMs)",
                    "retry_max_ms \(mqtt.retryMaxMs)", "retry_multiplier \(mqtt.retryMultiplier)",
                    "max_reconnect_attempts \(mqtt.maxReconnectAttempts) (0 = forever)",
                    "max_payload_bytes \(size(mqtt.maxPayloadBytes))", "format \(mqtt.format.rawValue)",
                    "key \(mqtt.key.configText)", "parse_json_payload \(mqtt.parseJSONPayload)",
                    "include_metadata \(mqtt.includeMetadata)",
                    "client_id rivven-mqtt-XXXXXXXX (derived: stable per host and config)",
                ]
            ),
            (
                "batch",
                [
                    "max_messages \(batch.maxMessages)", "max_bytes \(size(batch.maxBytes))",
                    "linger_ms \(batch.lingerMs)",
                ]
            ),
            (
                "buffer (per MQTT connection)",
                [
                    "capacity_messages \(buffer.capacityMessages)", "capacity_bytes \(size(buffer.capacityBytes))",
                    "when_full \(buffer.whenFull.rawValue)",
                ]
            ),
            (
                "log",
                [
                    "dir \(log.dir)", "max_bytes \(size(log.maxBytes))", "segment_bytes \(size(log.segmentBytes))",
                    "fsync \(log.fsync)",
                ]
            ),
            ("metrics", ["listen \(metrics.listen ?? "off")", "prefix \(metrics.prefix)"]),
            (
                "broker (none: the local log is the only sink; with bootstrap_servers)",
                [
                    "create_topic \(rivven.createTopic)", "partitions \(rivven.partitions)",
                    "idempotent \(rivven.idempotent)",
                ]
            ),
        ]
        var lines = [
            "Keys left out of the configuration file take these defaults (examples/ has",
            "annotated files; ${VAR} and ${VAR:-default} are expanded in string values):",
        ]
        for (name, items) in sections {
            lines.append("  \(name):")
            lines += wrapped(items, indent: "    ")
        }
        return lines.joined(separator: "\n")
    }()

    /// `items` joined with ", " into lines of at most 79 columns (ArgumentParser re-wraps longer lines at 80 and
    /// loses the indentation).
    private static func wrapped(_ items: [String], indent: String) -> [String] {
        var lines: [String] = []
        var line = indent
        for (index, item) in items.enumerated() {
            let piece = item + (index < items.count - 1 ? "," : "")
            if line.count > indent.count, line.count + 1 + piece.count > 79 {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + piece
        }
        lines.append(line)
        return lines
    }

    /// `1MiB`, `64MiB`, `1GiB`, or the byte count.
    private static func size(_ bytes: Int) -> String {
        for (unit, name) in [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] where bytes % unit == 0 {
            return "\(bytes / unit)\(name)"
        }
        return "\(bytes)"
    }
}

extension MQTTQoS {
    /// The spelling of the configuration file.
    fileprivate var configName: String {
        switch self {
        case .atMostOnce: "at_most_once"
        case .atLeastOnce: "at_least_once"
        case .exactlyOnce: "exactly_once"
        }
    }
}
