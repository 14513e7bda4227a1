/// Renders an ``IngestMetricsSnapshot`` in the Prometheus text exposition format 0.0.4 (SPEC §7): the seed
/// connector's six names exactly, then this product's counters and gauges, each family with `# HELP` and `# TYPE`.
///
/// Every name starts with `PREFIX_mqtt_source_` (`PREFIX` = `metrics.prefix`). Counters end in `_total`; latencies
/// and ages of our own are in seconds (the seed's `_receive_latency_avg_ms` keeps its milliseconds). Pure: no I/O.
public struct PrometheusExposition: Sendable {
    /// The `Content-Type` of the rendered text.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The quantiles of the end-to-end latency summary.
    public static let latencyQuantiles: [Double] = [0.5, 0.9, 0.99, 0.999]

    /// `metrics.prefix`.
    public var prefix: String

    /// Creates a renderer for names starting with `prefix` (`[A-Za-z_][A-Za-z0-9_]*`, checked by the configuration).
    public init(prefix: String = "rivven") {
        self.prefix = prefix
    }

    /// The exposition text of `s`, ending with a newline.
    public func render(_ s: IngestMetricsSnapshot) -> String {
        var out = PrometheusTextWriter(namePrefix: prefix + "_mqtt_source_")
        // The seed connector's names, in its order.
        out.counter("messages_received_total", "Messages received from the MQTT broker.", s.messagesReceived)
        out.counter("bytes_received_total", "Payload bytes of the messages received.", s.bytesReceived)
        out.counter("connections_total", "Successful MQTT connections (accepted CONNACKs).", s.connections)
        out.counter("disconnections_total", "MQTT connections lost or closed.", s.disconnections)
        out.counter("errors_total", "Errors of any kind (connection, subscription, protocol).", s.errors)
        out.gauge(
            "receive_latency_avg_ms",
            "Average time from receiving a message to it being durable, in milliseconds.",
            s.averageReceiveLatencyMilliseconds
        )
        // Ours.
        out.counter("records_written_total", "Records written to the local log (or the line output).", s.recordsWritten)
        out.counter("write_errors_total", "Failed writes or syncs of the local log (each retried).", s.writeErrors)
        out.counter("batches_total", "Batches written.", s.batchCount)
        out.gauge("batch_size_min", "Fewest records in a written batch (0 before the first batch).", s.batchSizeMin)
        out.gauge("batch_size_max", "Most records in a written batch.", s.batchSizeMax)
        out.gauge("batch_size_avg", "Average records per written batch.", s.averageBatchSize)
        out.family(
            "messages_dropped_total",
            "Messages not written, by reason: ring_full (QoS 0 under buffer.when_full drop_*), too_large (larger "
                + "than the whole ring), unwritable (stopped while the log could not be written), not_forwarded "
                + "(not sent to Rivven by policy, kept in the local log).",
            type: "counter"
        )
        for (reason, value) in [
            ("ring_full", s.droppedRingFull), ("too_large", s.droppedTooLarge), ("unwritable", s.droppedUnwritable),
            ("not_forwarded", s.rivvenDropped),
        ] {
            out.sample("messages_dropped_total", labels: [("reason", reason)], value)
        }
        out.counter(
            "oversize_messages_total",
            "Messages larger than max_payload_bytes (kept in the local log, dead-lettered towards Rivven).",
            s.oversizeMessages
        )
        out.counter("dead_lettered_total", "Records written to the dead-letter topic.", s.rivvenDeadLettered)
        out.counter(
            "duplicates_redelivered_total",
            "Messages the broker delivered again after a reconnect although their first copy was already taken.",
            s.duplicatesRedelivered
        )
        out.gauge("ring_depth", "Messages in the rings, not yet taken by the writer.", s.ringDepth)
        out.gauge(
            "unacked_in_flight",
            "Messages taken from the broker but not yet durable (their acknowledgements are held).",
            s.unacknowledgedInFlight
        )
        out.counter(
            "ring_full_waits_total",
            "Times the MQTT thread waited for ring space inside a callback.",
            s.ringFullWaits
        )
        out.gauge("log_bytes", "Bytes in the local log segments.", s.logBytes)
        out.counter(
            "log_truncated_bytes_total",
            "Torn or corrupt bytes truncated from the local log at start-up.",
            s.logTruncatedBytes
        )
        out.gauge(
            "forwarder_lag_records",
            "Records durable in the local log but not yet acknowledged by Rivven.",
            s.forwarderLagRecords
        )
        out.gauge(
            "oldest_unforwarded_age_seconds",
            "Age of the oldest record not yet acknowledged by Rivven (0 when none).",
            Double(s.forwarderOldestPendingAgeMs) / 1000
        )
        latencySummary(s, into: &out)
        out.counter("reconnects_total", "MQTT reconnect attempts after a failure or a drop.", s.reconnects)
        out.counter(
            "qos_downgrades_total",
            "Subscriptions the broker granted at a lower QoS than requested.",
            s.qosDowngrades
        )
        out.gauge(
            "rivven_connected",
            "1 when every Rivven forwarder is connected, else 0 (also 0 without Rivven).",
            s.rivvenConnected
        )
        out.counter(
            "rivven_records_forwarded_total",
            "Records Rivven acknowledged (dead letters included).",
            s.rivvenRecordsForwarded
        )
        out.counter("rivven_batches_forwarded_total", "Batches Rivven acknowledged.", s.rivvenBatchesForwarded)
        out.counter(
            "rivven_batches_resent_total",
            "Batches sent to Rivven again (lost connection, error reply, throttling).",
            s.rivvenBatchesResent
        )
        out.counter(
            "rivven_duplicate_batches_total",
            "Resent idempotent batches Rivven recognised as already stored (duplicates avoided).",
            s.rivvenDuplicateBatches
        )
        out.counter("rivven_error_replies_total", "Error replies from Rivven.", s.rivvenErrorReplies)
        out.counter(
            "rivven_connect_failures_total",
            "Failed Rivven connection or session set-up attempts.",
            s.rivvenConnectFailures
        )
        out.counter("rivven_disconnects_total", "Established Rivven connections lost.", s.rivvenDisconnects)
        out.counter(
            "rivven_producer_resets_total",
            "New idempotent producer ids taken after Rivven forgot or fenced the producer.",
            s.rivvenProducerResets
        )
        return out.text
    }

    private func latencySummary(_ s: IngestMetricsSnapshot, into out: inout PrometheusTextWriter) {
        let name = "end_to_end_latency_seconds"
        out.family(
            name,
            "Time from receiving a message to it being durable (receive -> durable), per message. Quantiles are "
                + "upper-bound estimates: the upper edge of a power-of-two microsecond bucket, at most twice the "
                + "true value.",
            type: "summary"
        )
        for quantile in Self.latencyQuantiles {
            // No observation yet: NaN, as Prometheus clients report an empty summary.
            let value = s.endToEndLatency.quantileMicroseconds(quantile).map { Double($0) / 1_000_000 } ?? .nan
            out.sample(name, labels: [("quantile", PrometheusTextWriter.format(quantile))], value)
        }
        out.sample(name + "_sum", labels: [], Double(s.receiveLatencyMicros) / 1_000_000)
        out.sample(name + "_count", labels: [], s.endToEndLatency.count)
    }
}

/// Builds exposition text line by line.
struct PrometheusTextWriter {
    let namePrefix: String
    private(set) var text = ""

    init(namePrefix: String) {
        self.namePrefix = namePrefix
        text.reserveCapacity(8192)
    }

    mutating func family(_ name: String, _ help: String, type: String) {
        text += "# HELP \(namePrefix)\(name) \(Self.escapeHelp(help))\n"
        text += "# TYPE \(namePrefix)\(name) \(type)\n"
    }

    mutating func counter(_ name: String, _ help: String, _ value: UInt64) {
        family(name, help, type: "counter")
        sample(name, labels: [], value)
    }

    mutating func gauge(_ name: String, _ help: String, _ value: UInt64) {
        family(name, help, type: "gauge")
        sample(name, labels: [], value)
    }

    mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        family(name, help, type: "gauge")
        sample(name, labels: [], value)
    }

    mutating func sample(_ name: String, labels: [(String, String)], _ value: UInt64) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, labels: [(String, String)], _ value: Double) {
        line(name, labels, Self.format(value))
    }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += namePrefix + name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    /// A float as Prometheus reads it: `NaN`, `+Inf`, `-Inf`, or the shortest decimal that round-trips.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }

    /// `# HELP` text: backslash and line feed are escaped.
    static func escapeHelp(_ text: String) -> String {
        escape(text, quote: false)
    }

    /// A label value: backslash, double quote and line feed are escaped.
    static func escapeLabelValue(_ text: String) -> String {
        escape(text, quote: true)
    }

    private static func escape(_ text: String, quote: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quote: out += "\\\""
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
