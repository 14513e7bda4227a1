import FastIngest
import Glibc
import Synchronization

/// A JSON value for the bench's output, with fixed-precision numbers.
indirect enum BenchJSON {
    case string(String)
    case int(Int)
    /// A number printed with this many fraction digits.
    case double(Double, Int)
    case bool(Bool)
    case null
    case array([BenchJSON])
    case object([(String, BenchJSON)])

    /// Two-space indented.
    var pretty: String {
        var out: [UInt8] = []
        write(to: &out, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func newline(_ out: inout [UInt8], _ level: Int) {
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    private func write(to out: inout [UInt8], level: Int) {
        switch self {
        case .string(let text): Array(text.utf8).withUnsafeBytes { JSONPayload.appendLossyString($0, to: &out) }
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value, let digits):
            out.append(contentsOf: (value.isFinite ? BenchFormat.fixed(value, digits) : "null").utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(&out, level + 1)
                item.write(to: &out, level: level + 1)
            }
            if !items.isEmpty { newline(&out, level) }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(&out, level + 1)
                Array(key.utf8).withUnsafeBytes { JSONPayload.appendLossyString($0, to: &out) }
                out.append(contentsOf: ": ".utf8)
                value.write(to: &out, level: level + 1)
            }
            if !fields.isEmpty { newline(&out, level) }
            out.append(UInt8(ascii: "}"))
        }
    }
}

/// Number formatting without Foundation.
enum BenchFormat {
    /// `value` rounded to `digits` fraction digits, e.g. `fixed(3.14159, 2)` = `3.14`.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale: Double = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return String(value) }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        var text = (value < 0 && units > 0 ? "-" : "") + String(units / divisor)
        if digits > 0 {
            let fraction = String(units % divisor)
            text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return text
    }

    /// `text` padded with spaces to `width` characters, on the left (right-aligned) or on the right.
    static func pad(_ text: String, _ width: Int, right: Bool = true) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }

    /// An integer with spaces between thousands: `1 234 567`.
    static func grouped(_ value: Int) -> String {
        let digits = Array(String(abs(value)))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(" ") }
            text.append(digit)
        }
        return (value < 0 ? "-" : "") + text
    }

    /// Microseconds as milliseconds with 2 decimals.
    static func milliseconds(_ micros: UInt64) -> String { fixed(Double(micros) / 1000, 2) }
}

/// The outcome of one run (the gateway's or the baseline's).
struct BenchRunResult {
    var subject: String
    var expected: Int
    var payload: Int
    /// Distinct sequence numbers found at the sink.
    var received = 0
    var duplicates = 0
    var loss = 0
    /// For the Rivven sinks: the loss found in the local log (the write-ahead log), nil otherwise.
    var walLoss: Int?
    /// Records without the bench header.
    var unparsable = 0
    /// Start → the N-th message at the sink; nil when not every message arrived.
    var seconds: Double?
    var latency: BenchLatency?
    /// The gateway's own share: its receipt of each message → durable (nil for the baseline).
    var gatewayLatency: BenchLatency?
    var latencyTo = ""
    var verifiedAt = "the subscriber (every message received)"
    /// The subject's CPU seconds (user, system) over the window.
    var cpu: (user: Double, system: Double)?
    /// user + system.
    var cpuSeconds: Double? { cpu.map { $0.user + $0.system } }
    var brokerCPUSeconds: Double?
    var processCPUSeconds: Double?
    var peakRSSBytes: Int?
    var otherPercent: Double?
    /// Start → the last publisher done (live).
    var publishSeconds: Double?
    var failure: String?
    var details: [(String, BenchJSON)] = []

    init(subject: String, settings: BenchSettings) {
        self.subject = subject
        self.expected = settings.messages
        self.payload = settings.payload
    }

    var isLossFree: Bool { loss == 0 && (walLoss ?? 0) == 0 && failure == nil }

    var messagesPerSecond: Double? { seconds.map { Double(expected) / $0 } }
    var megabytesPerSecond: Double? { seconds.map { Double(expected) * Double(payload) / $0 / 1e6 } }

    /// Takes the counts and latencies of `recorder`, the run having started at `start`.
    mutating func take(_ recorder: BenchRecorder, start: Int64) {
        received = recorder.tracker.unique
        duplicates = recorder.tracker.duplicates + recorder.tracker.outOfRange
        loss = recorder.tracker.missing
        unparsable = recorder.unparsable
        latency = recorder.latency
        gatewayLatency = recorder.gatewayLatency
        let completedAt = recorder.completedAt.load(ordering: .acquiring)
        seconds = completedAt > 0 ? Double(completedAt - start) / 1e9 : nil
    }

    /// Broker CPU, process CPU, peak RSS and other tenants' share over the window.
    mutating func measure(from start: BenchMark, to end: BenchMark, brokerRunning: Bool) {
        // The readings' own interval (a drain's window starts at CONNACK, a little after its start readings).
        let window = Double(end.takenAt - start.takenAt) / 1e9
        if let before = start.broker, let after = end.broker {
            let ticks = after - before
            brokerCPUSeconds = ticks.userSeconds + ticks.systemSeconds
        }
        let process = (end.process.user - start.process.user) + (end.process.system - start.process.system)
        processCPUSeconds = process
        peakRSSBytes = BenchSystem.peakRSSBytes()
        otherPercent = BenchSystem.otherPercent(
            from: start.box,
            to: end.box,
            own: process + (brokerCPUSeconds ?? 0),
            seconds: window
        )
    }

    var json: BenchJSON {
        var fields: [(String, BenchJSON)] = [
            ("subject", .string(subject)),
            ("seconds", seconds.map { .double($0, 4) } ?? .null),
            ("msgs_per_s", messagesPerSecond.map { .double($0, 0) } ?? .null),
            ("mb_per_s", megabytesPerSecond.map { .double($0, 2) } ?? .null),
            ("received", .int(received)),
            ("loss", .int(loss)),
            ("duplicates", .int(duplicates)),
        ]
        if let walLoss { fields.append(("log_loss", .int(walLoss))) }
        fields.append(("unparsable", .int(unparsable)))
        fields.append(("verified_at", .string(verifiedAt)))
        if let latency {
            fields.append(
                (
                    "latency_us",
                    .object([
                        ("to", .string(latencyTo)),
                        ("p50", .int(Int(latency.p50))), ("p99", .int(Int(latency.p99))),
                        ("p99_9", .int(Int(latency.p999))), ("max", .int(Int(latency.max))),
                        ("mean", .double(latency.mean, 1)), ("count", .int(latency.count)),
                    ])
                )
            )
        } else {
            fields.append(("latency_us", .null))
        }
        if let gatewayLatency {
            fields.append(
                (
                    "receive_to_durable_us",
                    .object([
                        ("p50", .int(Int(gatewayLatency.p50))), ("p99", .int(Int(gatewayLatency.p99))),
                        ("p99_9", .int(Int(gatewayLatency.p999))), ("max", .int(Int(gatewayLatency.max))),
                        ("mean", .double(gatewayLatency.mean, 1)),
                    ])
                )
            )
        }
        if let cpu, let total = cpuSeconds {
            var object: [(String, BenchJSON)] = [
                ("user_s", .double(cpu.user, 3)), ("sys_s", .double(cpu.system, 3)), ("total_s", .double(total, 3)),
            ]
            if let seconds, seconds > 0 { object.append(("pct_of_core", .double(100 * total / seconds, 0))) }
            fields.append(("cpu", .object(object)))
        } else {
            fields.append(("cpu", .null))
        }
        fields += [
            ("broker_cpu_s", brokerCPUSeconds.map { .double($0, 2) } ?? .null),
            ("process_cpu_s", processCPUSeconds.map { .double($0, 2) } ?? .null),
            ("peak_rss_bytes", peakRSSBytes.map { .int($0) } ?? .null),
            ("other_pct", otherPercent.map { .double($0, 0) } ?? .null),
            ("publish_s", publishSeconds.map { .double($0, 4) } ?? .null),
            ("failure", failure.map { .string($0) } ?? .null),
        ]
        return .object(fields + details)
    }
}

/// Both runs and how to print them.
struct BenchReport {
    let settings: BenchSettings
    var gateway: BenchRunResult?
    var baseline: BenchRunResult?
    var brokerURL = ""
    var brokerVersion: String?
    var writer: String?
    var rivvenTransport: String?

    init(settings: BenchSettings) {
        self.settings = settings
    }

    var isLossFree: Bool { (gateway?.isLossFree ?? false) && (baseline?.isLossFree ?? true) }

    /// Why the exit status is 1.
    var failureSummary: String {
        var parts: [String] = []
        for run in [gateway, baseline].compactMap({ $0 }) where !run.isLossFree {
            var text = "\(run.subject): \(run.loss) of \(run.expected) messages missing"
            if let walLoss = run.walLoss, walLoss > 0 { text += ", \(walLoss) missing from the local log" }
            if let failure = run.failure { text += " (\(failure))" }
            parts.append(text)
        }
        return parts.isEmpty ? "the bench did not complete" : parts.joined(separator: "; ")
    }

    /// Gateway ÷ baseline.
    func ratio(_ value: (BenchRunResult) -> Double?) -> Double? {
        guard let gateway, let baseline, let g = value(gateway), let b = value(baseline), b > 0 else { return nil }
        return g / b
    }

    private var ratios: [(String, Double?)] {
        [
            ("msgs_per_s", ratio { $0.messagesPerSecond }),
            ("latency_p50", ratio { $0.latency.map { Double($0.p50) } }),
            ("latency_p99", ratio { $0.latency.map { Double($0.p99) } }),
            ("cpu_s", ratio { $0.cpuSeconds }),
        ]
    }

    private var workloadText: String {
        let s = settings
        let publishing = s.rate.map { "\(BenchFormat.grouped(Int($0))) msgs/s" } ?? "flood"
        return "\(s.scenario.rawValue), QoS \(s.qos), \(BenchFormat.grouped(s.messages)) × \(s.payload) B, "
            + "\(s.publishers) publisher\(s.publishers == 1 ? "" : "s") (\(publishing)), in-flight window \(s.inflight)"
            + (s.tcpNoDelay ? ", TCP_NODELAY" : "")
    }

    private var sinkText: String {
        var text = settings.sink.name
        if let writer { text += ", writer \(writer)" }
        if settings.sink != .null { text += ", fsync per batch" }
        if let bytes = settings.bufferBytes { text += ", buffer.capacity_bytes \(BenchFormat.grouped(bytes))" }
        if let rivvenTransport { text += ", Rivven over \(rivvenTransport)" }
        return text + ", format \(settings.format.rawValue)"
    }

    var json: BenchJSON {
        var fields: [(String, BenchJSON)] = [
            ("version", .string(FastIngest.version)),
            ("scenario", .string(settings.scenario.rawValue)),
            ("qos", .int(settings.qos)),
            ("messages", .int(settings.messages)),
            ("payload_bytes", .int(settings.payload)),
            ("publishers", .int(settings.publishers)),
            ("rate", settings.rate.map { .double($0, 1) } ?? .null),
            ("inflight", .int(settings.inflight)),
            ("tcp_nodelay", .bool(settings.tcpNoDelay)),
            ("buffer_bytes", settings.bufferBytes.map { .int($0) } ?? .null),
            ("format", .string(settings.format.rawValue)),
            ("sink", .string(settings.sink.name)),
            ("writer", writer.map { .string($0) } ?? .null),
            ("rivven_transport", rivvenTransport.map { .string($0) } ?? .null),
            (
                "broker",
                .object([
                    ("url", .string(brokerURL)),
                    ("private", .bool(settings.broker == nil)),
                    ("mosquitto_version", brokerVersion.map { .string($0) } ?? .null),
                ])
            ),
            ("loss", .int(max(gateway?.loss ?? settings.messages, gateway?.walLoss ?? 0))),
            ("duplicates", .int(gateway?.duplicates ?? 0)),
            ("ok", .bool(isLossFree)),
            ("gateway", gateway?.json ?? .null),
            ("baseline", baseline?.json ?? .null),
        ]
        if baseline != nil {
            fields.append(("ratio", .object(ratios.map { ($0.0, $0.1.map { .double($0, 3) } ?? .null) })))
        } else {
            fields.append(("ratio", .null))
        }
        return .object(fields)
    }

    /// One line for a run of a series: the rates, the ratio and the loss.
    var oneLine: String {
        func rate(_ run: BenchRunResult?) -> String {
            run?.messagesPerSecond.map { BenchFormat.grouped(Int($0.rounded())) + " msgs/s" } ?? "-"
        }
        var text = "rivven-mqtt \(rate(gateway))"
        if baseline != nil {
            text += ", baseline \(rate(baseline))"
            if let ratio = ratio({ $0.messagesPerSecond }) { text += ", ratio \(BenchFormat.fixed(ratio, 2))" }
        }
        return text + (isLossFree ? ", loss 0" : ", FAILED: \(failureSummary)")
    }

    /// The workload, the broker and the sink.
    var headerLines: [String] {
        let brokerText = settings.broker == nil ? "private mosquitto \(brokerVersion ?? "")" : "--broker"
        return [
            "rivven-mqtt bench: \(workloadText)",
            "broker: \(brokerText) at \(brokerURL); sink: \(sinkText)",
        ]
    }

    /// The table for people.
    var table: String {
        let runs = [gateway, baseline].compactMap { $0 }
        var rows: [(String, [String], String)] = []
        func row(_ label: String, _ value: (BenchRunResult) -> String, ratio: Double? = nil) {
            rows.append((label, runs.map(value), ratio.map { BenchFormat.fixed($0, 2) } ?? ""))
        }
        let r = Dictionary(uniqueKeysWithValues: ratios.map { ($0.0, $0.1) })
        row(
            "messages/s",
            { $0.messagesPerSecond.map { BenchFormat.grouped(Int($0.rounded())) } ?? "-" },
            ratio: r["msgs_per_s"] ?? nil
        )
        row("MB/s (payload)", { $0.megabytesPerSecond.map { BenchFormat.fixed($0, 2) } ?? "-" })
        row("seconds", { $0.seconds.map { BenchFormat.fixed($0, 3) } ?? "-" })
        row(
            "latency p50 ms",
            { $0.latency.map { BenchFormat.milliseconds($0.p50) } ?? "-" },
            ratio: r["latency_p50"] ?? nil
        )
        row(
            "latency p99 ms",
            { $0.latency.map { BenchFormat.milliseconds($0.p99) } ?? "-" },
            ratio: r["latency_p99"] ?? nil
        )
        row("latency p99.9 ms", { $0.latency.map { BenchFormat.milliseconds($0.p999) } ?? "-" })
        row("latency max ms", { $0.latency.map { BenchFormat.milliseconds($0.max) } ?? "-" })
        if gateway?.gatewayLatency != nil {
            row("in gateway p50 ms", { $0.gatewayLatency.map { BenchFormat.milliseconds($0.p50) } ?? "-" })
            row("in gateway p99 ms", { $0.gatewayLatency.map { BenchFormat.milliseconds($0.p99) } ?? "-" })
        }
        row("received", { BenchFormat.grouped($0.received) })
        row("loss", { run in String(run.loss) + (run.walLoss.map { " (log \($0))" } ?? "") })
        row("duplicates", { String($0.duplicates) })
        row(
            "CPU user+sys s",
            { run in
                guard let cpu = run.cpu else { return "-" }
                return "\(BenchFormat.fixed(cpu.user, 2))+\(BenchFormat.fixed(cpu.system, 2))"
            },
            ratio: r["cpu_s"] ?? nil
        )
        row("broker CPU s", { $0.brokerCPUSeconds.map { BenchFormat.fixed($0, 2) } ?? "-" })
        row("process CPU s", { $0.processCPUSeconds.map { BenchFormat.fixed($0, 2) } ?? "-" })
        row("peak RSS MiB", { $0.peakRSSBytes.map { BenchFormat.fixed(Double($0) / 1_048_576, 1) } ?? "-" })
        row("other tenants % core", { $0.otherPercent.map { BenchFormat.fixed($0, 0) } ?? "-" })

        let labelWidth = max(22, rows.map(\.0.count).max() ?? 0)
        let columnWidth = max(16, rows.flatMap(\.1).map(\.count).max() ?? 0) + 2
        var lines = headerLines
        lines.append("")
        var header = BenchFormat.pad("", labelWidth, right: false)
        for run in runs { header += BenchFormat.pad(run.subject, columnWidth) }
        if baseline != nil { header += BenchFormat.pad("ratio", 8) }
        lines.append(header)
        for (label, values, ratio) in rows {
            var line = BenchFormat.pad(label, labelWidth, right: false)
            for value in values { line += BenchFormat.pad(value, columnWidth) }
            if baseline != nil { line += BenchFormat.pad(ratio, 8) }
            lines.append(line)
        }
        lines.append("")
        for run in runs {
            var note = "\(run.subject): latency = publish → \(run.latencyTo); verified at \(run.verifiedAt)"
            if run.gatewayLatency != nil { note += "; in gateway = MQTT receipt → \(run.latencyTo)" }
            if run.unparsable > 0 { note += "; \(run.unparsable) records without the bench header" }
            lines.append(note)
            let scalars = run.details.compactMap { key, value -> String? in
                switch value {
                case .int(let number): "\(key)=\(number)"
                case .double(let number, let digits): "\(key)=\(BenchFormat.fixed(number, digits))"
                default: nil
                }
            }
            if !scalars.isEmpty { lines.append("\(run.subject): " + scalars.joined(separator: " ")) }
            if let failure = run.failure { lines.append("\(run.subject): FAILED: \(failure)") }
        }
        if settings.scenario == .drain {
            lines.append("drain: latencies include the time the messages waited in the broker's queue")
        }
        if baseline != nil { lines.append("ratio = rivven-mqtt ÷ baseline") }
        lines.append(isLossFree ? "ok: every sequence number arrived" : "FAILED: \(failureSummary)")
        return lines.joined(separator: "\n")
    }
}

/// A one-line progress bar on stderr, only on a TTY, redrawn at most 10 times a second.
final class BenchProgress {
    private let enabled: Bool
    private var lastDrawn: Int64 = 0
    private var visible = false

    init(enabled: Bool) {
        self.enabled = enabled
    }

    func show(_ label: String, done: Int?, total: Int, since start: Int64) {
        guard enabled else { return }
        let now = BenchClock.now()
        guard now - lastDrawn >= 100_000_000 else { return }
        lastDrawn = now
        let elapsed = BenchFormat.fixed(Double(now - start) / 1e9, 1)
        var line = "\r\u{1B}[K\(label) "
        if let done {
            let width = 30
            let filled = total > 0 ? min(width, done * width / total) : 0
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += "\(BenchFormat.grouped(done))/\(BenchFormat.grouped(total)) "
        }
        line += "\(elapsed) s"
        writeRaw(line)
        visible = true
    }

    func clear() {
        guard enabled && visible else { return }
        writeRaw("\r\u{1B}[K")
        visible = false
        lastDrawn = 0
    }

    private func writeRaw(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
