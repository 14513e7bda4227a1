import FastIngest
import Glibc
import Histogram
import Logging
import Synchronization

/// What arrived at one run's measuring point — the gateway's local log (through the pipeline's batch observer) or the
/// baseline subscriber: every sequence number (loss, duplicates) and the publish → arrival latency of each first
/// arrival, in µs, in an HdrHistogram (3 significant digits).
///
/// Fed by one thread at a time (the gateway's writer thread, or the baseline subscriber's thread). While it runs the
/// main thread reads only the atomics; the tracker and the histogram after that thread was joined.
final class BenchRecorder: @unchecked Sendable {
    // @unchecked: `tracker`, `histogram` and `unparsable` are written by the one feeding thread and read by the main
    // thread only after joining it; the rest is atomic or Sendable.

    private(set) var tracker: SequenceTracker
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000,
        numberOfSignificantValueDigits: .three
    )
    /// The gateway's own share of the latency: its receipt of the message (the record's receive time) → durable.
    private(set) var gatewayHistogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000,
        numberOfSignificantValueDigits: .three
    )
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in ns at start: records carry their receive time in wall-clock µs.
    private let realtimeOffset: Int64
    /// Arrivals without a bench header (other traffic on a shared broker).
    private(set) var unparsable = 0
    /// Distinct sequence numbers so far (progress).
    let uniqueCount = Atomic<Int>(0)
    /// When the last missing sequence number arrived (CLOCK_MONOTONIC ns), 0 until then.
    let completedAt = Atomic<Int64>(0)
    /// Signalled once, when every sequence number has arrived.
    let completion = WakePipe()

    init(expected: Int) {
        tracker = SequenceTracker(expected: expected)
        realtimeOffset = WallClockTime.now().nanosecondsSinceEpoch - BenchClock.now()
    }

    /// Counts one arrival at `now` (CLOCK_MONOTONIC ns); `value` holds the bench header (``BenchPayload/find(in:)``).
    func record(_ value: UnsafeRawBufferPointer, at now: Int64) {
        guard let (sequence, publishedAt) = BenchPayload.find(in: value) else {
            unparsable += 1
            return
        }
        guard tracker.record(sequence) else { return }
        _ = histogram.record(UInt64(max(0, now - publishedAt) / 1000))
        uniqueCount.store(tracker.unique, ordering: .relaxed)
        if tracker.isComplete {
            completedAt.store(now, ordering: .releasing)
            completion.signal()
        }
    }

    /// The gateway's batch observer: every record of the batch arrived when the append returned.
    var batchObserver: WrittenBatchObserver {
        { [self] batch in
            let now = BenchClock.now()
            let nowMicros = (now + realtimeOffset) / 1000
            batch.forEachRecord { record in
                self.record(record.value, at: now)
                _ = self.gatewayHistogram.record(UInt64(max(0, nowMicros - record.receiveTimeMicros)))
            }
        }
    }

    /// The percentiles, or nil when nothing arrived.
    var latency: BenchLatency? { Self.percentiles(histogram) }

    /// Receive → durable percentiles (gateway runs), or nil when nothing was written.
    var gatewayLatency: BenchLatency? { Self.percentiles(gatewayHistogram) }

    private static func percentiles(_ histogram: Histogram<UInt64>) -> BenchLatency? {
        guard histogram.totalCount > 0 else { return nil }
        return BenchLatency(
            p50: histogram.valueAtPercentile(50),
            p99: histogram.valueAtPercentile(99),
            p999: histogram.valueAtPercentile(99.9),
            max: histogram.max,
            mean: histogram.mean,
            count: Int(histogram.totalCount)
        )
    }
}

/// Latency percentiles in µs.
struct BenchLatency: Sendable {
    var p50: UInt64
    var p99: UInt64
    var p999: UInt64
    var max: UInt64
    var mean: Double
    var count: Int
}

/// What the bench learns from the pipeline's log lines: when its MQTT connection was accepted (the drain's start)
/// and which file writer it chose. Warnings and errors are kept for the report.
final class BenchLogCapture: Sendable {
    /// CLOCK_MONOTONIC ns of the first "MQTT connected", 0 before.
    let connectedAt = Atomic<Int64>(0)
    private let state = Mutex<(writer: String?, transport: String?, problems: [String])>((nil, nil, []))

    /// The `log.writer` of the "local log open" line.
    var writer: String? { state.withLock { $0.writer } }
    /// The `transport` of the "connected to Rivven" line.
    var rivvenTransport: String? { state.withLock { $0.transport } }
    /// Warning and error messages, in order.
    var problems: [String] { state.withLock { $0.problems } }

    func note(_ event: LogEvent) {
        let message = "\(event.message)"
        if message == "MQTT connected" {
            _ = connectedAt.compareExchange(expected: 0, desired: BenchClock.now(), ordering: .acquiringAndReleasing)
        } else if message == "local log open", case .string(let writer)? = event.metadata?["log.writer"] {
            state.withLock { $0.writer = writer }
        } else if message == "connected to Rivven", case .string(let transport)? = event.metadata?["transport"] {
            state.withLock { $0.transport = transport }
        }
        if event.level >= .warning {
            state.withLock { $0.problems.append(message) }
        }
    }
}

/// Hands the pipeline's log lines to a ``BenchLogCapture`` and, from `printLevel` up, to the stderr handler.
struct BenchLogHandler: LogHandler {
    var printer: StderrLogHandler
    let capture: BenchLogCapture
    let printLevel: Logger.Level
    var logLevel: Logger.Level

    init(printer: StderrLogHandler, capture: BenchLogCapture, printLevel: Logger.Level) {
        self.printer = printer
        self.capture = capture
        self.printLevel = printLevel
        // The capture needs the info lines even when fewer are printed.
        self.logLevel = min(printLevel, .info)
    }

    var metadata: Logger.Metadata {
        get { printer.metadata }
        set { printer.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { printer[metadataKey: key] }
        set { printer[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        capture.note(event)
        if event.level >= printLevel { printer.log(event: event) }
    }
}
