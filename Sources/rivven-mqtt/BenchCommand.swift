import ArgumentParser
import FastIngest
import Glibc
import Logging
import Synchronization

/// `rivven-mqtt bench` (SPEC §8): the gateway end to end against a private mosquitto, next to a plain libmosquitto
/// subscriber in the same run (`--baseline`).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the gateway end to end: publishers → mosquitto → rivven-mqtt → sink, loss checked.",
        discussion: """
            Starts a private mosquitto on a free 127.0.0.1 port (or uses --broker), floods it from --publishers \
            libmosquitto publishers (one thread each), and runs the real pipeline in this process into the sink. \
            Every payload carries a sequence number and its publish time: the bench checks that every sequence \
            number arrived (loss must be 0; duplicates are counted) and measures publish → durable latency \
            (HdrHistogram). With --baseline the same workload also goes, in the same run and on a fresh broker, \
            through a plain libmosquitto counting subscriber, and the ratios are printed.

            Scenarios: live = the gateway is subscribed, then the publishers flood; rate = N / (publishers start → \
            the N-th message durable). drain = a persistent session is created and left offline, N messages are \
            queued in it, then the gateway connects and drains them; rate = N / (CONNACK → the N-th message durable).

            Sinks: log = the local log in a temporary directory (fsync per batch, io_uring where usable); null = the \
            same code path with writes and syncs discarded (the gateway minus the disk); rivven = also forwards to \
            the in-tree Rivven test server started in this process (rate up to the N-th record stored by it); \
            rivven://HOST:PORT = forwards to that Rivven (rate up to the N-th record acknowledged).

            Exit status: 0 when nothing was lost, 1 otherwise or when a run failed, 2 for bad options.
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable, Sendable {
        case live, drain
    }

    enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        case envelope, raw
    }

    @Option(help: "Messages to publish (and to find at the sink).")
    var messages = 200_000

    @Option(help: ArgumentHelp("Payload size in bytes (at least 30: the sequence/time header).", valueName: "BYTES"))
    var payload = 256

    @Option(help: "QoS of the publishers and of the subscription: 0, 1 or 2.")
    var qos = 0

    @Option(help: "Publishers, each a libmosquitto client on its own thread; the messages are split between them.")
    var publishers = 1

    @Option(
        help: ArgumentHelp(
            "Publish at a fixed total rate (messages/s) instead of flooding, for latency measurements (live only).",
            valueName: "MSGS_PER_S"
        )
    )
    var rate: Double?

    @Option(help: "live (publish to the subscribed gateway) or drain (gateway drains a queued persistent session).")
    var scenario: Scenario = .live

    @Option(
        help: ArgumentHelp(
            "log, null, rivven (in-process Rivven test server) or rivven://HOST:PORT.",
            valueName: "SINK"
        )
    )
    var sink = "log"

    @Option(
        help: ArgumentHelp(
            "Use this MQTT broker (mqtt://HOST:PORT) instead of starting a private mosquitto.",
            valueName: "URL"
        )
    )
    var broker: String?

    @Flag(help: "Also run the same workload through a plain libmosquitto counting subscriber and print the ratios.")
    var baseline = false

    @Option(
        help: """
            Repeat the workload this many times (each repetition: baseline, then gateway, on fresh brokers) and \
            report medians, with each ratio taken within a repetition.
            """
    )
    var runs = 1

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(
        help: """
            In-flight window: the private broker's max_inflight_messages, each publisher's window and the gateway's \
            max_inflight.
            """
    )
    var inflight = 1000

    @Flag(
        name: .customLong("tcp-nodelay"),
        help: """
            Nagle off for the publishers and the private broker (set_tcp_nodelay true; the gateway always sets \
            TCP_NODELAY). Off by default, as in the shared baseline harness; for latency runs it removes Nagle's \
            waits from the path being measured.
            """
    )
    var tcpNoDelay = false

    @Option(
        help: ArgumentHelp(
            "The gateway's buffer.capacity_bytes (ring memory per connection); default: the config default, 64 MiB.",
            valueName: "BYTES"
        )
    )
    var bufferBytes: Int?

    @Option(help: "Record format of the gateway: envelope (rivven-connect JSON) or raw (the payload bytes).")
    var format: Format = .envelope

    @Option(help: ArgumentHelp("Give up on a run after this many seconds (reported as loss).", valueName: "SECONDS"))
    var timeout = 120

    @Option(help: "Log level of the pipeline's lines on stderr: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .warning

    @Option(help: "Log format: text or json (one JSON object per line).")
    var logFormat: LogFormat = .text

    func validate() throws {
        if messages < 1 || UInt64(messages) > BenchPayload.maximumSequence {
            throw ValidationError("--messages must be between 1 and \(BenchPayload.maximumSequence)")
        }
        if payload < BenchPayload.headerSize || payload > 256 * 1024 * 1024 {
            throw ValidationError("--payload must be at least \(BenchPayload.headerSize) bytes (the bench header)")
        }
        if !(0...2).contains(qos) { throw ValidationError("--qos must be 0, 1 or 2") }
        if publishers < 1 || publishers > 1024 { throw ValidationError("--publishers must be between 1 and 1024") }
        if publishers > messages { throw ValidationError("--publishers cannot exceed --messages") }
        if let rate {
            if !(rate > 0) || !rate.isFinite { throw ValidationError("--rate must be a positive number of messages/s") }
            if scenario == .drain { throw ValidationError("--rate applies to the live scenario only") }
        }
        if inflight < 1 || inflight > 65535 { throw ValidationError("--inflight must be between 1 and 65535") }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
        if let bufferBytes, bufferBytes < 1 << 20 || bufferBytes > 1 << 40 {
            throw ValidationError("--buffer-bytes must be between 1 MiB (1048576) and 2^40 (the config's range)")
        }
        if runs < 1 || runs > 100 { throw ValidationError("--runs must be between 1 and 100") }
        _ = try parsedSink()
        _ = try parsedBroker()
    }

    /// `--sink` as a value.
    func parsedSink() throws -> BenchSink {
        switch sink {
        case "log": return .log
        case "null": return .null
        case "rivven": return .rivvenTestServer
        default:
            let prefix = "rivven://"
            guard sink.hasPrefix(prefix) else {
                throw ValidationError("--sink must be log, null, rivven or rivven://HOST:PORT, not '\(sink)'")
            }
            let address = String(sink.dropFirst(prefix.count))
            guard let colon = address.lastIndex(of: ":"), colon != address.startIndex,
                let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port)
            else {
                throw ValidationError("--sink rivven://HOST:PORT needs a host and a port, not '\(sink)'")
            }
            return .rivven(address)
        }
    }

    /// `--broker` as host and port, or nil for a private mosquitto.
    func parsedBroker() throws -> (host: String, port: Int)? {
        guard let broker else { return nil }
        let url: BrokerURL
        do {
            url = try BrokerURL.parse(broker)
        } catch {
            throw ValidationError("--broker: \(error)")
        }
        if url.useTLS {
            throw ValidationError("--broker: the bench's publishers speak plain MQTT; use an mqtt:// or tcp:// URL")
        }
        return (url.host, url.port)
    }

    func run() throws {
        // Before any thread exists, so every thread inherits the blocked signals.
        BenchSignals.start()
        // A file-size limit must surface as a write error, as in `run`.
        signal(SIGXFSZ, SIG_IGN)
        let settings = BenchSettings(
            messages: messages,
            payload: payload,
            qos: qos,
            publishers: publishers,
            rate: rate,
            scenario: scenario,
            sink: try parsedSink(),
            broker: try parsedBroker(),
            baseline: baseline,
            inflight: inflight,
            tcpNoDelay: tcpNoDelay,
            bufferBytes: bufferBytes,
            format: format,
            timeoutSeconds: timeout,
            logLevel: logLevel,
            logFormat: logFormat,
            progress: isatty(2) != 0
        )
        guard let directory = BenchSystem.makeTemporaryDirectory() else {
            throw CommandFailure(
                message: "error: cannot create a temporary directory: \(String(cString: strerror(errno)))",
                exitCode: 1
            )
        }
        defer { BenchSystem.removeTree(directory) }
        var reports: [BenchReport] = []
        for index in 0..<runs {
            var runSettings = settings
            var runDirectory = directory
            if runs > 1 {
                runSettings.runID = BenchSettings.makeRunID()
                runDirectory = directory + "/run-\(index + 1)"
                mkdir(runDirectory, 0o700)
            }
            let runner = BenchRunner(settings: runSettings, directory: runDirectory)
            do {
                reports.append(try runner.runAll())
            } catch {
                let prefix = runs > 1 ? "run \(index + 1) of \(runs): " : ""
                throw CommandFailure(message: "error: \(prefix)\(error.message)", exitCode: 1)
            }
            if runs > 1, let report = reports.last {
                writeStandardError("run \(index + 1)/\(runs): \(report.oneLine)")
            }
        }
        if runs == 1, let report = reports.first {
            writeStandardOutput(json ? report.json.pretty : report.table)
            if !report.isLossFree {
                throw CommandFailure(message: "error: \(report.failureSummary)", exitCode: 1)
            }
            return
        }
        let series = BenchSeries(reports: reports)
        writeStandardOutput(json ? series.json.pretty : series.table)
        if !series.isLossFree {
            throw CommandFailure(message: "error: \(series.failureSummary)", exitCode: 1)
        }
    }
}

/// Where the gateway writes during a bench run.
enum BenchSink: Sendable, Equatable {
    case log
    case null
    case rivvenTestServer
    case rivven(String)

    var name: String {
        switch self {
        case .log: "log"
        case .null: "null"
        case .rivvenTestServer: "rivven (in-process test server)"
        case .rivven(let address): "rivven://\(address)"
        }
    }
}

/// Everything a bench run needs from the command line.
struct BenchSettings: Sendable {
    var messages: Int
    var payload: Int
    var qos: Int
    var publishers: Int
    var rate: Double?
    var scenario: BenchCommand.Scenario
    var sink: BenchSink
    var broker: (host: String, port: Int)?
    var baseline: Bool
    var inflight: Int
    var tcpNoDelay: Bool
    var bufferBytes: Int?
    var format: BenchCommand.Format
    var timeoutSeconds: Int
    var logLevel: Logger.Level
    var logFormat: LogFormat
    var progress: Bool
    /// Distinguishes this invocation's topics and client ids (8 hex digits).
    var runID = BenchSettings.makeRunID()

    /// The topic filter every subscriber uses.
    var topicFilter: String { "bench/\(runID)/#" }

    /// The topic of publisher `index`.
    func topic(publisher index: Int) -> String { "bench/\(runID)/p\(index)" }

    /// The sequence numbers publisher `index` sends.
    func sequences(publisher index: Int) -> Range<Int> {
        (messages * index / publishers)..<(messages * (index + 1) / publishers)
    }

    /// Total payload bytes of the workload.
    var payloadBytes: Double { Double(messages) * Double(payload) }

    static func makeRunID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = UInt32.random(in: 0...UInt32.max, using: &generator)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

/// SIGINT/SIGTERM during a bench: the first cancels the run (brokers are stopped and temporary files removed on the
/// way out, exit 1); a second one kills the private broker and exits at once.
enum BenchSignals {
    static let cancelled = Atomic<Bool>(false)

    static func start() {
        SignalWatcher.watch(thread: "bench-signals") { name in
            cancelled.store(true, ordering: .releasing)
            writeStandardError("\(name) received: stopping the bench")
        } onAgain: { _ in
            let pid = BenchBroker.runningPID.load(ordering: .acquiring)
            if pid > 0 { kill(pid, SIGKILL) }
        }
    }
}
