import FastIngest

/// `--runs N`: the same workload repeated, each repetition a baseline run (with `--baseline`) followed by a gateway
/// run on fresh brokers, summarised by medians. A ratio is taken within each repetition (paired: both runs met the
/// same moment of the machine) and the median of those is reported, with its range.
struct BenchSeries {
    let reports: [BenchReport]

    var isLossFree: Bool { reports.allSatisfy(\.isLossFree) }

    var failureSummary: String {
        reports.enumerated().filter { !$0.element.isLossFree }
            .map { "run \($0.offset + 1): \($0.element.failureSummary)" }
            .joined(separator: "; ")
    }

    /// The median of the values present (the mean of the middle two for an even count), nil when none is.
    static func median(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }.filter(\.isFinite).sorted()
        guard !present.isEmpty else { return nil }
        let middle = present.count / 2
        return present.count % 2 == 1 ? present[middle] : (present[middle - 1] + present[middle]) / 2
    }

    /// One measure of one subject in every run.
    private func values(_ run: (BenchReport) -> BenchRunResult?, _ measure: (BenchRunResult) -> Double?) -> [Double?] {
        reports.map { report in run(report).flatMap(measure) }
    }

    /// Gateway ÷ baseline in each run.
    private func pairedRatios(_ measure: (BenchRunResult) -> Double?) -> [Double?] {
        reports.map { $0.ratio(measure) }
    }

    private struct Measure: Sendable {
        let label: String
        let key: String
        let digits: Int
        let value: @Sendable (BenchRunResult) -> Double?
        /// Whether a ratio against the baseline means something.
        let paired: Bool
    }

    private static let measures: [Measure] = [
        Measure(label: "messages/s", key: "msgs_per_s", digits: 0, value: { $0.messagesPerSecond }, paired: true),
        Measure(label: "MB/s (payload)", key: "mb_per_s", digits: 2, value: { $0.megabytesPerSecond }, paired: false),
        Measure(
            label: "latency p50 ms",
            key: "latency_p50_ms",
            digits: 2,
            value: { run in
                run.latency.map { Double($0.p50) / 1000 }
            },
            paired: true
        ),
        Measure(
            label: "latency p99 ms",
            key: "latency_p99_ms",
            digits: 2,
            value: { run in
                run.latency.map { Double($0.p99) / 1000 }
            },
            paired: true
        ),
        Measure(
            label: "latency p99.9 ms",
            key: "latency_p99_9_ms",
            digits: 2,
            value: { run in
                run.latency.map { Double($0.p999) / 1000 }
            },
            paired: false
        ),
        Measure(
            label: "in gateway p50 ms",
            key: "in_gateway_p50_ms",
            digits: 2,
            value: { run in
                run.gatewayLatency.map { Double($0.p50) / 1000 }
            },
            paired: false
        ),
        Measure(
            label: "in gateway p99 ms",
            key: "in_gateway_p99_ms",
            digits: 2,
            value: { run in
                run.gatewayLatency.map { Double($0.p99) / 1000 }
            },
            paired: false
        ),
        Measure(label: "CPU s", key: "cpu_s", digits: 2, value: { $0.cpuSeconds }, paired: true),
        Measure(label: "broker CPU s", key: "broker_cpu_s", digits: 2, value: { $0.brokerCPUSeconds }, paired: false),
        Measure(label: "other tenants % core", key: "other_pct", digits: 0, value: { $0.otherPercent }, paired: false),
    ]

    private var hasBaseline: Bool { reports.contains { $0.baseline != nil } }

    /// The table for people: medians, the median paired ratio and its range, each run's ratio.
    var table: String {
        guard let first = reports.first else { return "" }
        let subjects: [(String, (BenchReport) -> BenchRunResult?)] =
            [("rivven-mqtt", { $0.gateway })] + (hasBaseline ? [("baseline", { $0.baseline })] : [])
        var lines = first.headerLines
        lines[0] += "; \(reports.count) runs, medians"
        lines.append("")
        let labelWidth = 22
        let columnWidth = 16
        var header = BenchFormat.pad("", labelWidth, right: false)
        for (name, _) in subjects { header += BenchFormat.pad(name, columnWidth) }
        if hasBaseline { header += BenchFormat.pad("ratio", 8) + BenchFormat.pad("range", 13) }
        lines.append(header)
        for measure in Self.measures {
            let medians = subjects.map { Self.median(values($0.1, measure.value)) }
            guard medians.contains(where: { $0 != nil }) else { continue }
            var line = BenchFormat.pad(measure.label, labelWidth, right: false)
            for value in medians {
                let text = value.map {
                    measure.digits == 0 ? BenchFormat.grouped(Int($0.rounded())) : BenchFormat.fixed($0, measure.digits)
                }
                line += BenchFormat.pad(text ?? "-", columnWidth)
            }
            if hasBaseline && measure.paired {
                let ratios = pairedRatios(measure.value)
                let present = ratios.compactMap { $0 }
                line += BenchFormat.pad(Self.median(ratios).map { BenchFormat.fixed($0, 2) } ?? "", 8)
                if let low = present.min(), let high = present.max() {
                    line += BenchFormat.pad("\(BenchFormat.fixed(low, 2))–\(BenchFormat.fixed(high, 2))", 13)
                }
            }
            lines.append(line)
        }
        var totals = BenchFormat.pad("loss / duplicates", labelWidth, right: false)
        for (_, run) in subjects {
            let loss = reports.reduce(0) { $0 + (run($1).map { $0.loss + ($0.walLoss ?? 0) } ?? 0) }
            let duplicates = reports.reduce(0) { $0 + (run($1)?.duplicates ?? 0) }
            totals += BenchFormat.pad("\(loss) / \(duplicates)", columnWidth)
        }
        lines.append(totals)
        var rss = BenchFormat.pad("peak RSS MiB (max)", labelWidth, right: false)
        for (_, run) in subjects {
            let peak = reports.compactMap { run($0)?.peakRSSBytes }.max()
            rss += BenchFormat.pad(peak.map { BenchFormat.fixed(Double($0) / 1_048_576, 1) } ?? "-", columnWidth)
        }
        lines.append(rss)
        lines.append("")
        if hasBaseline {
            let perRun = pairedRatios { $0.messagesPerSecond }.map { $0.map { BenchFormat.fixed($0, 2) } ?? "-" }
            lines.append("messages/s ratio per run: " + perRun.joined(separator: " "))
            lines.append("ratio = median over the runs of rivven-mqtt ÷ baseline within a run; range = lowest–highest")
        }
        lines.append("peak RSS is the process's high-water mark, so it holds for every run up to the one shown")
        lines.append(isLossFree ? "ok: every sequence number arrived in every run" : "FAILED: \(failureSummary)")
        return lines.joined(separator: "\n")
    }

    var json: BenchJSON {
        var median: [(String, BenchJSON)] = []
        var ratio: [(String, BenchJSON)] = []
        for measure in Self.measures {
            var subjects: [(String, BenchJSON)] = [
                ("gateway", Self.median(values({ $0.gateway }, measure.value)).map { .double($0, 3) } ?? .null)
            ]
            if hasBaseline {
                subjects.append(
                    ("baseline", Self.median(values({ $0.baseline }, measure.value)).map { .double($0, 3) } ?? .null)
                )
                if measure.paired {
                    let ratios = pairedRatios(measure.value)
                    ratio.append(
                        (
                            measure.key,
                            .object([
                                ("median", Self.median(ratios).map { .double($0, 3) } ?? .null),
                                ("per_run", .array(ratios.map { $0.map { .double($0, 3) } ?? .null })),
                            ])
                        )
                    )
                }
            }
            median.append((measure.key, .object(subjects)))
        }
        return .object([
            ("runs", .int(reports.count)),
            ("ok", .bool(isLossFree)),
            (
                "loss",
                .int(
                    reports.reduce(0) { $0 + (($1.gateway?.loss ?? $1.settings.messages) + ($1.gateway?.walLoss ?? 0)) }
                )
            ),
            ("median", .object(median)),
            ("ratio", hasBaseline ? .object(ratio) : .null),
            ("reports", .array(reports.map(\.json))),
        ])
    }
}
