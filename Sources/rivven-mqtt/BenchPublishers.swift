import FastIngest
import Glibc
import Synchronization

/// The publishers of one run: `--publishers` libmosquitto clients, each on a thread of its own (`bench-pub-K`),
/// publishing its share of the sequence numbers. They connect first, then wait for ``release()``, so the run's clock
/// starts when every publisher is connected.
final class BenchPublishers: Sendable {
    private let settings: BenchSettings
    private let host: String
    private let port: Int
    private let deadline: Int64
    private let connected = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let startAt = Atomic<Int64>(0)
    private let lastFinishedAt = Atomic<Int64>(0)
    private let failure = Mutex<String?>(nil)
    private let threads = Mutex<[DriverThread]>([])
    private let aborted = Atomic<Bool>(false)

    /// Starts the threads; each connects and waits for ``release()``.
    init(settings: BenchSettings, host: String, port: Int, deadline: Int64) {
        self.settings = settings
        self.host = host
        self.port = port
        self.deadline = deadline
        for index in 0..<settings.publishers {
            let thread = DriverThread(name: "bench-pub-\(index)") { [self] in publish(index) }
            threads.withLock { $0.append(thread) }
        }
    }

    private func publish(_ index: Int) {
        let settings = self.settings
        let range = settings.sequences(publisher: index)
        let options = MosquittoPublisher.Options(
            host: host,
            port: port,
            clientID: "rivven-bench-\(settings.runID)-pub\(index)",
            qos: settings.qos,
            window: settings.inflight,
            tcpNoDelay: settings.tcpNoDelay
        )
        var interval: Int64 = 0
        if let rate = settings.rate { interval = Int64(1e9 * Double(settings.publishers) / rate) }
        do throws(MQTTError) {
            let publisher = try MosquittoPublisher(options: options)
            publisher.cancellation = { [self] in
                aborted.load(ordering: .relaxed) || BenchSignals.cancelled.load(ordering: .relaxed)
            }
            try publisher.connect(deadline: deadline)
            connected.add(1, ordering: .acquiringAndReleasing)
            var start = startAt.load(ordering: .acquiring)
            while start == 0 {
                if BenchClock.now() > deadline || aborted.load(ordering: .relaxed)
                    || BenchSignals.cancelled.load(ordering: .relaxed)
                {
                    throw MQTTError(.timeout, "bench publisher \(index) was never released")
                }
                usleep(20)
                start = startAt.load(ordering: .acquiring)
            }
            var payload = BenchPayload.template(size: settings.payload)
            let first = UInt64(range.lowerBound)
            try publisher.publish(
                count: range.count,
                topic: settings.topic(publisher: index),
                payload: &payload,
                start: start,
                intervalNanoseconds: interval,
                deadline: deadline
            ) { offset, due, payload in
                BenchPayload.write(sequence: first + UInt64(offset), publishedAt: due, into: &payload)
            }
            let now = BenchClock.now()
            var last = lastFinishedAt.load(ordering: .relaxed)
            while last < now {
                let (exchanged, original) = lastFinishedAt.compareExchange(
                    expected: last,
                    desired: now,
                    ordering: .relaxed
                )
                if exchanged { break }
                last = original
            }
            publisher.disconnect()
        } catch {
            failure.withLock { if $0 == nil { $0 = error.message } }
        }
        finished.add(1, ordering: .acquiringAndReleasing)
    }

    /// Waits until every publisher is connected; throws when one failed, at the deadline, or when cancelled.
    func waitConnected() throws(BenchFailure) {
        while connected.load(ordering: .acquiring) < settings.publishers {
            if let message = failure.withLock({ $0 }) { throw BenchFailure(message) }
            if BenchSignals.cancelled.load(ordering: .relaxed) { throw BenchFailure("interrupted") }
            if BenchClock.now() > deadline { throw BenchFailure("the bench publishers did not connect in time") }
            usleep(1_000)
        }
    }

    /// Lets every publisher go; returns the start time (CLOCK_MONOTONIC ns).
    @discardableResult
    func release() -> Int64 {
        let now = BenchClock.now()
        startAt.store(now, ordering: .releasing)
        return now
    }

    /// Whether every publisher has finished (successfully or not).
    var allFinished: Bool { finished.load(ordering: .acquiring) == settings.publishers }

    /// The first failure of a publisher, if any.
    var failureMessage: String? { failure.withLock { $0 } }

    /// Makes every publisher stop at its next loop turn (a run that failed).
    func abort() {
        aborted.store(true, ordering: .relaxed)
    }

    /// Waits for every publisher thread (a second call returns at once); returns when the last one had everything
    /// written/acknowledged, or nil when one failed.
    @discardableResult
    func join() -> Int64? {
        // A publisher waiting for its release would wait until the deadline: release them all first.
        if startAt.load(ordering: .acquiring) == 0 { release() }
        let running = threads.withLock { threads in
            defer { threads = [] }
            return threads
        }
        for thread in running { thread.join() }
        return failureMessage == nil ? lastFinishedAt.load(ordering: .acquiring) : nil
    }
}
