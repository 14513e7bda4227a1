import Testing

@testable import FastIngest

@Suite("PrometheusExposition")
struct PrometheusExpositionTests {
    /// A snapshot where every field has a distinct value, so a value shown under the wrong name is caught.
    static func sample() -> IngestMetricsSnapshot {
        var s = IngestMetricsSnapshot()
        s.messagesReceived = 1001
        s.bytesReceived = 1002
        s.connections = 1003
        s.disconnections = 1004
        s.errors = 1005
        s.receiveLatencyMicros = 3_003_000  // 3 ms average over 1001 messages
        s.batchSizeMin = 1007
        s.batchSizeMax = 1008
        s.batchSizeSum = 4036
        s.batchCount = 4
        s.recordsWritten = 1011
        s.writeErrors = 1012
        s.reconnects = 1013
        s.qosDowngrades = 1014
        s.oversizeMessages = 1015
        s.droppedRingFull = 1016
        s.droppedTooLarge = 1017
        s.droppedUnwritable = 1018
        s.duplicatesRedelivered = 1019
        s.ringFullWaits = 1020
        s.logTruncatedBytes = 1021
        s.rivvenRecordsForwarded = 1022
        s.rivvenBatchesForwarded = 1023
        s.rivvenDuplicateBatches = 1024
        s.rivvenBatchesResent = 1025
        s.rivvenDeadLettered = 1026
        s.rivvenDropped = 1027
        s.rivvenErrorReplies = 1028
        s.rivvenConnectFailures = 1029
        s.rivvenDisconnects = 1030
        s.rivvenProducerResets = 1031
        s.rivvenConnected = 1
        s.forwarderLagRecords = 1033
        s.forwarderOldestPendingAgeMs = 1500
        s.ringDepth = 1035
        s.unacknowledgedInFlight = 1036
        s.logBytes = 1037
        var buckets = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
        buckets[7] = 90  // 64 … 127 µs
        buckets[10] = 9  // 512 … 1023 µs
        buckets[16] = 1  // 32768 … 65535 µs
        s.endToEndLatency = LatencyDistribution(bucketCounts: buckets)
        return s
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// `name{labels}` → value text, comments skipped.
    static func samples(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in lines(text) where !line.isEmpty && !line.hasPrefix("#") {
            let space = line.lastIndex(of: " ")!
            result[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return result
    }

    @Test func theSeedNamesComeFirstExactlyWithTheirTypes() {
        let text = PrometheusExposition().render(Self.sample())
        let types = Self.lines(text).filter { $0.hasPrefix("# TYPE ") }
        #expect(
            Array(types.prefix(6)) == [
                "# TYPE rivven_mqtt_source_messages_received_total counter",
                "# TYPE rivven_mqtt_source_bytes_received_total counter",
                "# TYPE rivven_mqtt_source_connections_total counter",
                "# TYPE rivven_mqtt_source_disconnections_total counter",
                "# TYPE rivven_mqtt_source_errors_total counter",
                "# TYPE rivven_mqtt_source_receive_latency_avg_ms gauge",
            ]
        )
        let samples = Self.samples(text)
        #expect(samples["rivven_mqtt_source_messages_received_total"] == "1001")
        #expect(samples["rivven_mqtt_source_bytes_received_total"] == "1002")
        #expect(samples["rivven_mqtt_source_connections_total"] == "1003")
        #expect(samples["rivven_mqtt_source_disconnections_total"] == "1004")
        #expect(samples["rivven_mqtt_source_errors_total"] == "1005")
        #expect(samples["rivven_mqtt_source_receive_latency_avg_ms"] == "3.0")
        #expect(text.hasPrefix("# HELP rivven_mqtt_source_messages_received_total "))
        #expect(text.hasSuffix("\n") && !text.hasSuffix("\n\n"))
    }

    @Test func everyExtraOfSpecSevenHasItsValue() {
        let samples = Self.samples(PrometheusExposition().render(Self.sample()))
        let expected: [String: String] = [
            "records_written_total": "1011", "write_errors_total": "1012", "batches_total": "4",
            "batch_size_min": "1007", "batch_size_max": "1008", "batch_size_avg": "1009.0",
            "messages_dropped_total{reason=\"ring_full\"}": "1016",
            "messages_dropped_total{reason=\"too_large\"}": "1017",
            "messages_dropped_total{reason=\"unwritable\"}": "1018",
            "messages_dropped_total{reason=\"not_forwarded\"}": "1027",
            "oversize_messages_total": "1015", "dead_lettered_total": "1026", "duplicates_redelivered_total": "1019",
            "ring_depth": "1035", "unacked_in_flight": "1036", "ring_full_waits_total": "1020", "log_bytes": "1037",
            "log_truncated_bytes_total": "1021", "forwarder_lag_records": "1033",
            "oldest_unforwarded_age_seconds": "1.5", "reconnects_total": "1013", "qos_downgrades_total": "1014",
            "rivven_connected": "1", "rivven_records_forwarded_total": "1022", "rivven_batches_forwarded_total": "1023",
            "rivven_batches_resent_total": "1025", "rivven_duplicate_batches_total": "1024",
            "rivven_error_replies_total": "1028", "rivven_connect_failures_total": "1029",
            "rivven_disconnects_total": "1030", "rivven_producer_resets_total": "1031",
            "end_to_end_latency_seconds{quantile=\"0.5\"}": "0.000127",
            "end_to_end_latency_seconds{quantile=\"0.9\"}": "0.000127",
            "end_to_end_latency_seconds{quantile=\"0.99\"}": "0.001023",
            "end_to_end_latency_seconds{quantile=\"0.999\"}": "0.065535",
            "end_to_end_latency_seconds_sum": "3.003", "end_to_end_latency_seconds_count": "100",
        ]
        for (name, value) in expected {
            #expect(samples["rivven_mqtt_source_" + name] == value, "\(name)")
        }
        // Nothing rendered that this test does not know: a new metric gets a value check here.
        #expect(samples.count == expected.count + 6, "\(samples.keys.sorted())")
    }

    /// Each family is declared once, HELP then TYPE, right before its samples; sample names are valid and belong to
    /// the family declared last (a summary's `_sum`/`_count` included); counters end in `_total`.
    @Test func familiesAreWellFormed() {
        let lines = Self.lines(PrometheusExposition().render(Self.sample())).dropLast()
        var declared = Set<String>()
        var family: (name: String, type: String)?
        var sawHelp: String?
        func isValidName(_ name: Substring) -> Bool {
            func isLetter(_ c: Unicode.Scalar) -> Bool {
                ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" || c == ":"
            }
            guard let first = name.unicodeScalars.first, isLetter(first) else { return false }
            return name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
        }
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 3)
            if line.hasPrefix("# HELP ") {
                #expect(parts.count == 4 && !parts[3].isEmpty, "\(line)")
                sawHelp = String(parts[2])
            } else if line.hasPrefix("# TYPE ") {
                let name = String(parts[2])
                #expect(sawHelp == name, "TYPE without its HELP: \(line)")
                #expect(declared.insert(name).inserted, "declared twice: \(name)")
                #expect(["counter", "gauge", "summary"].contains(parts[3]), "\(line)")
                if parts[3] == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
                family = (name, String(parts[3]))
                sawHelp = nil
            } else {
                let name = line.prefix { $0 != "{" && $0 != " " }
                #expect(isValidName(name), "\(line)")
                let current = try! #require(family, "sample before any TYPE: \(line)")
                let allowed =
                    current.type == "summary"
                    ? [current.name, current.name + "_sum", current.name + "_count"] : [current.name]
                #expect(allowed.contains(String(name)), "\(line) outside its family \(current.name)")
            }
        }
        #expect(declared.count == 35)
    }

    @Test func thePrefixIsConfigurable() {
        let text = PrometheusExposition(prefix: "edge_gw2").render(IngestMetricsSnapshot())
        for line in Self.lines(text) where !line.isEmpty {
            let name = line.hasPrefix("#") ? String(line.split(separator: " ")[2]) : line
            #expect(name.hasPrefix("edge_gw2_mqtt_source_"), "\(line)")
        }
        #expect(text.contains("\nedge_gw2_mqtt_source_messages_received_total 0\n"))
    }

    /// Before any message: the summary reports NaN quantiles and a zero count, as Prometheus clients do.
    @Test func anEmptySummaryHasNaNQuantiles() {
        let samples = Self.samples(PrometheusExposition().render(IngestMetricsSnapshot()))
        #expect(samples["rivven_mqtt_source_end_to_end_latency_seconds{quantile=\"0.5\"}"] == "NaN")
        #expect(samples["rivven_mqtt_source_end_to_end_latency_seconds_count"] == "0")
        #expect(samples["rivven_mqtt_source_receive_latency_avg_ms"] == "0.0")
        #expect(samples["rivven_mqtt_source_batch_size_min"] == "0")
    }

    @Test func helpTextAndLabelValuesAreEscaped() {
        #expect(PrometheusTextWriter.escapeHelp(#"a\b"# + "\n" + #"c "d""#) == #"a\\b\nc "d""#)
        #expect(PrometheusTextWriter.escapeLabelValue(#"a\b"# + "\n" + #"c "d""#) == #"a\\b\nc \"d\""#)
        #expect(PrometheusTextWriter.escapeLabelValue("plain ünïcode") == "plain ünïcode")
        var writer = PrometheusTextWriter(namePrefix: "p_")
        writer.family("x", "line one\nline \\two", type: "gauge")
        writer.sample("x", labels: [("path", "C:\\dir\n\"q\"")], UInt64(1))
        #expect(
            writer.text == #"""
                # HELP p_x line one\nline \\two
                # TYPE p_x gauge
                p_x{path="C:\\dir\n\"q\""} 1

                """#
        )
    }

    @Test func floatsAreWrittenAsPrometheusReadsThem() {
        #expect(PrometheusTextWriter.format(.nan) == "NaN")
        #expect(PrometheusTextWriter.format(.infinity) == "+Inf")
        #expect(PrometheusTextWriter.format(-.infinity) == "-Inf")
        #expect(PrometheusTextWriter.format(0.5) == "0.5")
        #expect(PrometheusTextWriter.format(2) == "2.0")
        #expect(Double(PrometheusTextWriter.format(0.000127)) == 0.000127)
    }
}
