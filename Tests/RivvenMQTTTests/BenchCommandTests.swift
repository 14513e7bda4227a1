import Foundation
import Glibc
import Testing

/// `rivven-mqtt bench` (SPEC §8) as CI runs it: small workloads through a private mosquitto the bench starts itself,
/// checked for loss, duplicates and the presence of every reported field. Nothing here asserts a speed: the figures
/// are only required to exist and to be consistent with each other. Serialized and niced: each bench floods a broker
/// with every core it can get, which would starve the rest of the suite on a 2-core machine.
@Suite("bench command", .serialized, .timeLimit(.minutes(8)))
struct BenchCommandTests {
    /// Runs `rivven-mqtt bench ARGUMENTS` under `nice -n 19`: a bench floods its broker with every core it can get,
    /// which is what it is for, but here the other suites running meanwhile must keep theirs.
    static func bench(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let product = try BinaryProcess.productBinaryPath()
        guard let nice = BinaryProcess.which("nice") else {
            return try await BinaryProcess(executable: product).run(
                arguments: ["bench"] + arguments,
                timeout: .seconds(300)
            )
        }
        return try await BinaryProcess(executable: nice)
            .run(arguments: ["-n", "19", product, "bench"] + arguments, timeout: .seconds(300))
    }

    /// Runs the bench with `--json` and returns the exit status and the parsed object.
    static func benchJSON(_ arguments: [String]) async throws -> (status: Int32, report: [String: Any], stderr: String)
    {
        let run = try await bench(arguments + ["--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let report = try #require(object, "stdout is not a JSON object:\n\(run.stdout)\nstderr:\n\(run.stderr)")
        return (run.status, report, run.stderr)
    }

    /// What every complete, loss-free run object must hold.
    static func checkCompleteRun(_ run: [String: Any]?, subject: String, messages: Int) throws {
        let run = try #require(run, "no \(subject) run in the report")
        #expect(run["subject"] as? String == subject)
        #expect(run["received"] as? Int == messages)
        #expect(run["loss"] as? Int == 0)
        #expect(run["duplicates"] as? Int == 0)
        #expect(run["unparsable"] as? Int == 0)
        #expect(run["failure"] is NSNull)
        let seconds = try #require(run["seconds"] as? Double, "\(run)")
        let rate = try #require(run["msgs_per_s"] as? Double, "\(run)")
        #expect(seconds > 0 && rate > 0)
        // msgs/s is N / seconds (both rounded in the output).
        #expect(abs(rate * seconds - Double(messages)) <= Double(messages) * 0.01 + 1, "\(run)")
        #expect(run["mb_per_s"] is Double)
        let latency = try #require(run["latency_us"] as? [String: Any], "\(run)")
        #expect(latency["count"] as? Int == messages)
        let p50 = try #require(latency["p50"] as? Int)
        let p99 = try #require(latency["p99"] as? Int)
        let p999 = try #require(latency["p99_9"] as? Int)
        let max = try #require(latency["max"] as? Int)
        #expect(p50 <= p99 && p99 <= p999 && p999 <= max, "\(latency)")
        #expect((latency["to"] as? String)?.isEmpty == false)
        let cpu = try #require(run["cpu"] as? [String: Any], "\(run)")
        for key in ["user_s", "sys_s", "total_s"] { #expect((cpu[key] as? Double ?? -1) >= 0, "\(key) in \(cpu)") }
        #expect((run["peak_rss_bytes"] as? Int ?? 0) > 1 << 20)
        #expect((run["process_cpu_s"] as? Double ?? -1) >= 0)
        #expect(run["verified_at"] is String)
    }

    @Test func qos1IntoTheLocalLog() async throws {
        let (status, report, stderr) = try await Self.benchJSON([
            "--messages", "5000", "--payload", "64", "--qos", "1", "--sink", "log",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(report["ok"] as? Bool == true)
        #expect(report["loss"] as? Int == 0)
        #expect(report["duplicates"] as? Int == 0)
        #expect(report["messages"] as? Int == 5000)
        #expect(report["qos"] as? Int == 1)
        #expect(report["scenario"] as? String == "live")
        #expect(["io_uring", "pwrite"].contains(report["writer"] as? String ?? ""), "\(report)")
        #expect(report["baseline"] is NSNull)
        #expect(report["ratio"] is NSNull)
        let broker = try #require(report["broker"] as? [String: Any])
        #expect(broker["private"] as? Bool == true)
        #expect((broker["mosquitto_version"] as? String)?.hasPrefix("2.") == true, "\(broker)")
        #expect((broker["url"] as? String)?.hasPrefix("mqtt://127.0.0.1:") == true)
        let gateway = report["gateway"] as? [String: Any]
        try Self.checkCompleteRun(gateway, subject: "rivven-mqtt", messages: 5000)
        #expect((gateway?["verified_at"] as? String)?.contains("local log") == true)
        #expect(gateway?["messages_received"] as? Int == 5000)
        #expect((gateway?["broker_cpu_s"] as? Double ?? -1) >= 0)
        #expect((gateway?[path: "latency_us", "to"] as? String)?.contains("durable") == true)
        // The gateway's own share (MQTT receipt → durable) is part of publish → durable.
        let inGateway = try #require(gateway?["receive_to_durable_us"] as? [String: Any], "\(gateway ?? [:])")
        let ownP50 = try #require(inGateway["p50"] as? Int)
        let ownMax = try #require(inGateway["max"] as? Int)
        let totalMax = try #require(gateway?[path: "latency_us", "max"] as? Int)
        #expect(ownP50 <= ownMax && ownMax <= totalMax + 1000, "\(inGateway) vs max \(totalMax) µs")
        #expect((gateway?["cpu_mqtt_s"] as? Double ?? -1) >= 0, "\(gateway ?? [:])")
        #expect((gateway?["cpu_writer_s"] as? Double ?? -1) >= 0, "\(gateway ?? [:])")
    }

    /// `--runs`: each repetition is a baseline run and a gateway run on fresh brokers; the summary holds medians and
    /// the ratio of each repetition.
    @Test func repeatedRunsReportMediansAndPairedRatios() async throws {
        let (status, series, stderr) = try await Self.benchJSON([
            "--messages", "2000", "--payload", "64", "--qos", "1", "--baseline", "--runs", "3", "--tcp-nodelay",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(series["runs"] as? Int == 3)
        #expect(series["ok"] as? Bool == true)
        #expect(series["loss"] as? Int == 0)
        let reports = try #require(series["reports"] as? [[String: Any]], "\(series)")
        #expect(reports.count == 3)
        var rates: [Double] = []
        var ratios: [Double] = []
        var brokers: Set<String> = []
        for report in reports {
            #expect(report["tcp_nodelay"] as? Bool == true)
            let gateway = report["gateway"] as? [String: Any]
            try Self.checkCompleteRun(gateway, subject: "rivven-mqtt", messages: 2000)
            try Self.checkCompleteRun(report["baseline"] as? [String: Any], subject: "baseline", messages: 2000)
            rates.append(try #require(gateway?["msgs_per_s"] as? Double))
            ratios.append(try #require(report[path: "ratio", "msgs_per_s"] as? Double))
            brokers.insert(try #require(report[path: "broker", "url"] as? String))
        }
        #expect(brokers.count == 3, "each repetition has a broker of its own: \(brokers)")
        // The summary is computed from the runs above: the median of three is the middle one.
        let medianRate = try #require(series[path: "median", "msgs_per_s", "gateway"] as? Double)
        #expect(abs(medianRate - rates.sorted()[1]) <= 1, "\(medianRate) vs \(rates)")
        let perRun = try #require(series[path: "ratio", "msgs_per_s", "per_run"] as? [Double])
        #expect(zip(perRun, ratios).allSatisfy { abs($0 - $1) < 0.002 }, "\(perRun) vs \(ratios)")
        let medianRatio = try #require(series[path: "ratio", "msgs_per_s", "median"] as? Double)
        #expect(abs(medianRatio - ratios.sorted()[1]) < 0.002, "\(medianRatio) vs \(ratios)")
        #expect(stderr.contains("run 3/3:"), "\(stderr)")
    }

    @Test func repeatedRunsTable() async throws {
        let run = try await Self.bench(["--messages", "1000", "--payload", "64", "--baseline", "--runs", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        for text in [
            "2 runs, medians", "messages/s", "in gateway p99 ms", "range", "messages/s ratio per run: ",
            "ok: every sequence number arrived in every run",
        ] {
            #expect(run.stdout.contains(text), "'\(text)' missing from:\n\(run.stdout)")
        }
    }

    @Test func forwardingToTheRivvenTestServer() async throws {
        let (status, report, stderr) = try await Self.benchJSON([
            "--messages", "2000", "--payload", "64", "--sink", "rivven", "--publishers", "2",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(report["ok"] as? Bool == true)
        #expect(report["rivven_transport"] is String, "\(report)")
        let gateway = report["gateway"] as? [String: Any]
        try Self.checkCompleteRun(gateway, subject: "rivven-mqtt", messages: 2000)
        #expect(gateway?["rivven_records_stored"] as? Int == 2000)
        #expect(gateway?["log_loss"] as? Int == 0)
        #expect(gateway?["rivven_duplicate_batches"] is Int)
        #expect((gateway?["verified_at"] as? String)?.contains("Rivven test server") == true)
    }

    @Test func drainWithTheBaseline() async throws {
        let (status, report, stderr) = try await Self.benchJSON([
            "--messages", "2000", "--payload", "64", "--qos", "1", "--scenario", "drain", "--baseline",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(report["ok"] as? Bool == true)
        #expect(report["scenario"] as? String == "drain")
        let gateway = report["gateway"] as? [String: Any]
        try Self.checkCompleteRun(gateway, subject: "rivven-mqtt", messages: 2000)
        try Self.checkCompleteRun(report["baseline"] as? [String: Any], subject: "baseline", messages: 2000)
        // Every message was acknowledged: the broker had nothing left for the gateway's session after it stopped.
        #expect(gateway?["redelivered_after_stop"] as? Int == 0, "\(gateway ?? [:])")
        let ratio = try #require(report["ratio"] as? [String: Any], "\(report)")
        for key in ["msgs_per_s", "latency_p50", "latency_p99", "cpu_s"] {
            #expect(ratio[key] is Double, "\(key) in \(ratio)")
        }
    }

    @Test func nullSinkRawPayloadsFromSeveralPublishersAtQoS2() async throws {
        let (status, report, stderr) = try await Self.benchJSON([
            "--messages", "2000", "--payload", "30", "--qos", "2", "--publishers", "3", "--sink", "null",
            "--format", "raw", "--rate", "4000", "--buffer-bytes", "1048576",
        ])
        #expect(status == 0, "\(stderr)")
        #expect(report["buffer_bytes"] as? Int == 1_048_576)
        #expect(report["writer"] as? String == "none (null sink)")
        #expect(report["format"] as? String == "raw")
        try Self.checkCompleteRun(report["gateway"] as? [String: Any], subject: "rivven-mqtt", messages: 2000)
    }

    @Test func tableForPeople() async throws {
        let run = try await Self.bench(["--messages", "2000", "--payload", "64", "--baseline", "--rate", "4000"])
        #expect(run.status == 0, "\(run.stderr)")
        for text in [
            "rivven-mqtt bench: live, QoS 0, 2 000 × 64 B, 1 publisher (4 000 msgs/s)", "messages/s",
            "latency p99.9 ms",
            "CPU user+sys s", "peak RSS MiB", "baseline", "ratio", "ok: every sequence number arrived",
        ] {
            #expect(run.stdout.contains(text), "'\(text)' missing from:\n\(run.stdout)")
        }
        #expect(!run.stdout.contains("FAILED"))
    }

    /// A broker that drops what does not fit a small queue (mosquitto's own default behaviour, here at 100): the
    /// bench must find the missing sequence numbers, say so and exit 1.
    @Test func reportsLossAndExitsOne() async throws {
        try await MosquittoBroker.with(.init(extraConfiguration: ["max_queued_messages 100"])) { broker in
            let (status, report, stderr) = try await Self.benchJSON([
                "--messages", "2000", "--payload", "64", "--qos", "1", "--scenario", "drain", "--broker", broker.url,
                "--timeout", "5",
            ])
            #expect(status == 1)
            #expect(report["ok"] as? Bool == false)
            let gateway = try #require(report["gateway"] as? [String: Any])
            let loss = try #require(gateway["loss"] as? Int)
            let received = try #require(gateway["received"] as? Int)
            #expect(loss > 0 && loss + received == 2000, "\(gateway)")
            #expect(report["loss"] as? Int == loss)
            #expect(gateway["seconds"] is NSNull)
            #expect((gateway["missing_sequences_first"] as? [Int])?.isEmpty == false)
            #expect((report["broker"] as? [String: Any])?["private"] as? Bool == false)
            #expect(stderr.contains("messages missing"), "\(stderr)")
        }
    }

    /// SIGINT cancels a run (exit 1, "interrupted"); a second one exits at once with 128 + SIGINT.
    @Test func signalsCancelTheRun() async throws {
        let arguments = ["bench", "--messages", "2000000", "--payload", "64", "--rate", "20000", "--log-level", "info"]
        let once = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
        try once.start(arguments: arguments)
        #expect(await once.waitForStderr(containing: "MQTT connected", timeout: .seconds(60)), "\(once.stderrText)")
        once.signal(SIGINT)
        #expect(await once.waitForExit(timeout: .seconds(60)) == 1, "\(once.stderrText)")
        #expect(once.stderrText.contains("SIGINT received: stopping the bench"), "\(once.stderrText)")
        #expect(once.stderrText.contains("interrupted"), "\(once.stderrText)")

        let twice = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
        try twice.start(arguments: arguments)
        #expect(await twice.waitForStderr(containing: "MQTT connected", timeout: .seconds(60)), "\(twice.stderrText)")
        twice.signal(SIGINT)
        #expect(await twice.waitForStderr(containing: "stopping the bench"), "\(twice.stderrText)")
        twice.signal(SIGINT)
        let status = await twice.waitForExit(timeout: .seconds(60))
        // The first signal may already have finished the run; otherwise the second one cut it short.
        #expect(status == 128 + SIGINT || status == 1, "\(String(describing: status)): \(twice.stderrText)")
    }

    @Test func badOptionsExitTwo() async throws {
        for (arguments, message) in [
            (["--payload", "10"], "--payload"), (["--sink", "kafka"], "--sink"), (["--qos", "3"], "--qos"),
            (["--rate", "100", "--scenario", "drain"], "--rate"), (["--broker", "mqtts://localhost"], "plain MQTT"),
            (["--sink", "rivven://nohost"], "HOST:PORT"), (["--publishers", "0"], "--publishers"),
            (["--runs", "0"], "--runs"), (["--buffer-bytes", "10"], "--buffer-bytes"),
        ] {
            let run = try await Self.bench(arguments)
            #expect(run.status == 2, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }

    @Test func helpListsEveryOption() async throws {
        let root = try await BinaryProcess(executable: try BinaryProcess.productBinaryPath()).run(arguments: ["--help"])
        #expect(root.stdout.contains("bench"), "\(root.stdout)")
        let help = try await Self.bench(["--help"])
        #expect(help.status == 0)
        for option in [
            "--messages", "--payload", "--qos", "--publishers", "--rate", "--scenario", "--sink", "--broker",
            "--baseline", "--json", "--inflight", "--format", "--timeout", "--log-level", "--log-format", "--runs",
            "--tcp-nodelay", "--buffer-bytes",
        ] {
            #expect(help.stdout.contains(option), "\(option) missing from:\n\(help.stdout)")
        }
        #expect(help.stdout.contains("default: 200000"), "\(help.stdout)")
    }
}
