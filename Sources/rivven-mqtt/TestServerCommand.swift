import ArgumentParser
import FastIngest
import Glibc

/// `rivven-mqtt test-server` (hidden): the package's in-memory Rivven stand-in (``RivvenTestServer``) as a process,
/// so the gateway can be tried and benchmarked end to end on a machine without a Rivven broker.
struct TestServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-server",
        abstract: """
            Run an in-memory Rivven stand-in for trying and benchmarking rivven-mqtt without a Rivven broker; not a \
            broker: nothing is persisted.
            """,
        discussion: """
            Speaks Rivven's native TCP protocol (the requests rivven-mqtt and the official client send), keeps \
            topics and records in memory only, and auto-creates topics on first publish. Prints \
            "rivven test server listening on HOST:PORT" to stderr once it accepts connections (with --port 0 that \
            line tells the port), runs until SIGINT or SIGTERM, then prints one JSON line of final statistics to \
            stdout and exits 0.

            --report-ms N prints, every N ms, one JSON line to stdout: {"t": SECONDS, "records": R, \
            "duplicates": D, "requests": Q}, where t is CLOCK_MONOTONIC (the clock of Python's time.monotonic()), \
            R the records stored so far, D the publishes answered as duplicates (idempotent resends, not stored) \
            and Q the requests decoded.
            """,
        shouldDisplay: false
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The IPv4 address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one (printed on stderr).")
    var port: UInt16 = 9092

    @Option(help: "Partitions of topics created without a partition count (auto-created on publish).")
    var partitions: UInt32 = 3

    @Flag(help: "Count records without keeping them (offsets only), so a long benchmark does not fill memory.")
    var noRetain = false

    @Option(
        name: .customLong("report-ms"),
        help: ArgumentHelp("Print a statistics JSON line to stdout every N ms (0 = off).", valueName: "N")
    )
    var reportMilliseconds = 0

    @Option(
        name: .customLong("user"),
        help: ArgumentHelp(
            """
            A principal NAME:PASSWORD that can authenticate (SCRAM-SHA-256 or plaintext); repeatable. Any one makes \
            authentication required.
            """,
            valueName: "NAME:PASSWORD"
        )
    )
    var users: [String] = []

    func validate() throws {
        if partitions == 0 { throw ValidationError("--partitions must be at least 1") }
        if reportMilliseconds < 0 { throw ValidationError("--report-ms must be 0 (off) or a positive number") }
        for user in users where Self.principal(user) == nil {
            throw ValidationError("--user must be NAME:PASSWORD with a non-empty name, not '\(user)'")
        }
    }

    /// `NAME:PASSWORD` split at the first colon (the password may contain colons); nil without a name.
    static func principal(_ text: String) -> RivvenTestServer.User? {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return nil }
        return RivvenTestServer.User(name: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    func run() throws {
        let logger = global.bootstrapLogging()
        let principals = users.compactMap(Self.principal)
        let server = RivvenTestServer(
            configuration: .init(
                host: host,
                port: port,
                defaultPartitions: partitions,
                requireAuth: !principals.isEmpty,
                users: principals,
                retainRecords: !noRetain
            )
        )
        // Before any server thread exists, so every thread inherits the blocked signals.
        let stop = WakePipe()
        SignalWatcher.start(logger: logger) { stop.signal() }
        let listening: UInt16
        do {
            listening = try server.start()
        } catch {
            throw CommandFailure(message: "error: cannot listen on \(host):\(port): \(error)", exitCode: 1)
        }
        writeStandardError("rivven test server listening on \(host):\(listening)")
        if reportMilliseconds > 0 {
            let interval = Int64(reportMilliseconds) * 1_000_000
            var next = Self.monotonicNanoseconds() + interval
            while true {
                let remaining = max(0, (next - Self.monotonicNanoseconds() + 999_999) / 1_000_000)
                if stop.wait(timeoutMilliseconds: Int32(clamping: remaining)) { break }
                let now = Self.monotonicNanoseconds()
                if now < next { continue }
                // Counted first, stamped after: a line never claims records earlier than they were stored.
                let statistics = server.statistics
                writeStandardOutput(Self.reportLine(statistics, at: Self.monotonicNanoseconds()))
                // A fixed schedule; after a stall (a stopped process, an overloaded box) resume from now.
                next += interval
                if next <= now { next = now + interval }
            }
        } else {
            stop.wait(timeoutMilliseconds: -1)
        }
        server.stop()
        writeStandardOutput(Self.finalLine(server, at: Self.monotonicNanoseconds()))
    }

    // MARK: Output

    /// CLOCK_MONOTONIC in nanoseconds.
    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Nanoseconds as a JSON number of seconds with microsecond digits, such as `12345.006789`.
    static func seconds(_ nanoseconds: Int64) -> String {
        let micros = nanoseconds / 1_000
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// `{"t":…,"records":…,"duplicates":…,"requests":…}`.
    static func reportLine(_ statistics: RivvenServerStatistics, at nanoseconds: Int64) -> String {
        "{\"t\":\(seconds(nanoseconds)),\"records\":\(statistics.recordsStored),"
            + "\"duplicates\":\(statistics.duplicatesDetected),\"requests\":\(statistics.totalRequests)}"
    }

    /// The report fields, then `"final":true`, requests by kind, connections, malformed frames and every topic's
    /// next offset per partition (its record count per partition, also with --no-retain).
    static func finalLine(_ server: RivvenTestServer, at nanoseconds: Int64) -> String {
        let statistics = server.statistics
        let kinds = statistics.requestsByKind.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int($0.value)) }
        let topics = server.topicNames().map { name -> (String, JSONValue) in
            let count = server.partitionCount(topic: name) ?? 0
            let offsets = (0..<count).map { JSONValue.int(Int(server.nextOffset(topic: name, partition: $0) ?? 0)) }
            return (name, .array(offsets))
        }
        let rest = JSONValue.object([
            ("final", .bool(true)),
            ("requests_by_kind", .object(kinds)),
            ("connections", .int(statistics.connectionsAccepted)),
            ("malformed_frames", .int(statistics.malformedFrames)),
            ("topics", .object(topics)),
        ]).compact
        // The report line with the rest appended: the same first four fields in the same order.
        return String(reportLine(statistics, at: nanoseconds).dropLast()) + "," + String(rest.dropFirst())
    }
}
