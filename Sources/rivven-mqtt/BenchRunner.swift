import FastIngest
import Glibc
import Logging
import Synchronization

/// The broker a run publishes to: a private mosquitto of its own, or `--broker`.
struct BenchEndpoint {
    var host: String
    var port: Int
    var broker: BenchBroker?

    var url: String { "mqtt://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

/// Clock and CPU readings at one end of a measured window.
struct BenchMark {
    /// The window's start or end (CLOCK_MONOTONIC ns); a drain moves the start to CONNACK.
    var time: Int64
    /// When the readings below were taken.
    let takenAt: Int64
    var process: (user: Double, system: Double)
    var broker: CPUTicks?
    var box: BoxSnapshot?
    var threads: [Int32: (name: String, ticks: CPUTicks)]

    static func now(broker: BenchBroker?) -> BenchMark {
        let now = BenchClock.now()
        return BenchMark(
            time: now,
            takenAt: now,
            process: BenchSystem.processUsage(),
            broker: broker?.ticks,
            box: BenchSystem.box(),
            threads: BenchSystem.threads()
        )
    }

    /// CPU of this process's threads whose names `include` accepts (the main thread excluded), between two marks.
    /// Threads started after `start` count from 0.
    static func threadTicks(from start: BenchMark, to end: BenchMark, include: (String) -> Bool) -> CPUTicks {
        let main = getpid()
        var total = CPUTicks()
        for (tid, entry) in end.threads where tid != main && include(entry.name) {
            total = total + (entry.ticks - (start.threads[tid]?.ticks ?? CPUTicks()))
        }
        return total
    }
}

/// A thread's outcome, shared with it.
private final class ThreadOutcome: Sendable {
    let ready = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
    /// Set by the main thread when the run failed: the thread stops at its next loop turn.
    let abort = Atomic<Bool>(false)
    let connectedAt = Atomic<Int64>(0)
    /// CPU seconds of the thread over its measured part.
    let cpu = Mutex<(user: Double, system: Double)?>(nil)
    let failure = Mutex<String?>(nil)

    func fail(_ message: String) { failure.withLock { if $0 == nil { $0 = message } } }
    var failureMessage: String? { failure.withLock { $0 } }
}

/// Runs the baseline (when asked) and then the gateway, each on a fresh private broker (or on `--broker`).
final class BenchRunner {
    let settings: BenchSettings
    let directory: String
    private let progress: BenchProgress

    init(settings: BenchSettings, directory: String) {
        self.settings = settings
        self.directory = directory
        self.progress = BenchProgress(enabled: settings.progress)
    }

    func runAll() throws(BenchFailure) -> BenchReport {
        var report = BenchReport(settings: settings)
        if settings.baseline {
            report.baseline = try runBaseline()
        }
        report.gateway = try runGateway(into: &report)
        return report
    }

    /// The deadline of a run that starts now.
    private func makeDeadline() -> Int64 { BenchClock.now() + Int64(settings.timeoutSeconds) * 1_000_000_000 }

    private func checkCancelled() throws(BenchFailure) {
        if BenchSignals.cancelled.load(ordering: .relaxed) { throw BenchFailure("interrupted") }
    }

    // MARK: Broker and workload

    private func endpoint(_ name: String) throws(BenchFailure) -> BenchEndpoint {
        if let external = settings.broker { return BenchEndpoint(host: external.host, port: external.port) }
        let brokerDirectory = directory + "/broker-" + name
        mkdir(brokerDirectory, 0o700)
        let broker = try BenchBroker.start(
            directory: brokerDirectory,
            inflight: settings.inflight,
            tcpNoDelay: settings.tcpNoDelay
        )
        return BenchEndpoint(host: "127.0.0.1", port: broker.port, broker: broker)
    }

    private func subscriberOptions(
        _ endpoint: BenchEndpoint,
        clientID: String,
        mode: MosquittoCountingSubscriber.Mode
    ) -> MosquittoCountingSubscriber.Options {
        .init(
            host: endpoint.host,
            port: endpoint.port,
            clientID: clientID,
            filter: settings.topicFilter,
            qos: settings.qos,
            mode: mode
        )
    }

    /// Creates the offline persistent session `clientID`, subscribed to the bench's topics (drain).
    private func createSession(_ endpoint: BenchEndpoint, clientID: String) throws(BenchFailure) {
        do throws(MQTTError) {
            let subscriber = try MosquittoCountingSubscriber(
                options: subscriberOptions(endpoint, clientID: clientID, mode: .persist)
            )
            try subscriber.connect(deadline: makeDeadline())
        } catch {
            throw BenchFailure("cannot create the persistent session for the drain: \(error.message)")
        }
    }

    /// Messages the broker still holds for the session `clientID` (unacknowledged ones are sent again on connect),
    /// counted for `seconds`; nil when the check could not connect.
    private func redelivered(
        _ endpoint: BenchEndpoint,
        clientID: String,
        milliseconds: Int64
    ) -> (count: Int, first: [Int])? {
        guard
            let subscriber = try? MosquittoCountingSubscriber(
                options: subscriberOptions(endpoint, clientID: clientID, mode: .drain)
            ), (try? subscriber.connect(deadline: makeDeadline())) != nil
        else { return nil }
        let until = BenchClock.now() + milliseconds * 1_000_000
        var first: [Int] = []
        _ = try? subscriber.receive(deadline: until + 1_000_000_000, shouldStop: { BenchClock.now() >= until }) {
            payload in
            if first.count < 10, let header = BenchPayload.parse(payload) { first.append(Int(header.sequence)) }
            return false
        }
        subscriber.disconnect()
        return (subscriber.received, first)
    }

    /// Removes the persistent session `clientID` with a clean-session connect, so a shared broker keeps nothing.
    private func removeSession(_ endpoint: BenchEndpoint, clientID: String) {
        let options = subscriberOptions(endpoint, clientID: clientID, mode: .drain)
        var clean = options
        clean.mode = .clean
        guard let subscriber = try? MosquittoCountingSubscriber(options: clean) else { return }
        if (try? subscriber.connect(deadline: BenchClock.now() + 5_000_000_000)) != nil { subscriber.disconnect() }
    }

    /// Publishes the whole workload and waits until the broker has it (the drain's backlog).
    private func publishBacklog(_ endpoint: BenchEndpoint, label: String) throws(BenchFailure) {
        let publishers = BenchPublishers(
            settings: settings,
            host: endpoint.host,
            port: endpoint.port,
            deadline: makeDeadline()
        )
        try publishers.waitConnected()
        let start = publishers.release()
        while !publishers.allFinished {
            progress.show("\(label): queueing the backlog", done: nil, total: settings.messages, since: start)
            usleep(20_000)
        }
        progress.clear()
        guard publishers.join() != nil else {
            throw BenchFailure("publishing the backlog failed: \(publishers.failureMessage ?? "unknown reason")")
        }
        // A QoS 0 message counts as published once written to the socket: give the broker a moment for the last.
        usleep(100_000)
    }

    // MARK: Baseline

    /// The workload through a plain libmosquitto counting subscriber (thread `bench-sub`).
    private func runBaseline() throws(BenchFailure) -> BenchRunResult {
        let endpoint = try endpoint("baseline")
        defer { endpoint.broker?.stop() }
        let clientID = "rivven-bench-\(settings.runID)-base"
        let live = settings.scenario == .live
        if !live {
            try createSession(endpoint, clientID: clientID)
            try publishBacklog(endpoint, label: "baseline")
        }
        defer { if !live && settings.broker != nil { removeSession(endpoint, clientID: clientID) } }
        let recorder = BenchRecorder(expected: settings.messages)
        let outcome = ThreadOutcome()
        let deadline = makeDeadline()
        let options = subscriberOptions(endpoint, clientID: clientID, mode: live ? .clean : .drain)
        BenchSystem.resetPeakRSS()
        var start = BenchMark.now(broker: endpoint.broker)
        let thread = DriverThread(name: "bench-sub") {
            let cpuAtStart = BenchSystem.threadUsage()
            do throws(MQTTError) {
                let subscriber = try MosquittoCountingSubscriber(options: options)
                try subscriber.connect(deadline: deadline)
                outcome.connectedAt.store(subscriber.connectedAt, ordering: .relaxed)
                // Live: measured from when it is subscribed (the publishers go after that); drain: from its start.
                let cpuAtReady = live ? BenchSystem.threadUsage() : cpuAtStart
                outcome.ready.store(true, ordering: .releasing)
                try subscriber.receive(
                    deadline: deadline,
                    shouldStop: {
                        outcome.abort.load(ordering: .relaxed) || BenchSignals.cancelled.load(ordering: .relaxed)
                    }
                ) { payload in
                    recorder.record(payload, at: BenchClock.now())
                    return recorder.completedAt.load(ordering: .relaxed) != 0
                }
                let cpuAtEnd = BenchSystem.threadUsage()
                outcome.cpu.withLock { $0 = (cpuAtEnd.user - cpuAtReady.user, cpuAtEnd.system - cpuAtReady.system) }
                subscriber.disconnect()
            } catch {
                outcome.fail(error.message)
            }
            outcome.done.store(true, ordering: .releasing)
        }
        var publishers: BenchPublishers?
        var joined = false
        defer {
            // Only after a failure: stop and join whatever still runs.
            publishers?.abort()
            publishers?.join()
            if !joined {
                outcome.abort.store(true, ordering: .relaxed)
                thread.join()
            }
        }
        if live {
            while !outcome.ready.load(ordering: .acquiring) {
                if outcome.done.load(ordering: .acquiring) {
                    throw BenchFailure("baseline subscriber: \(outcome.failureMessage ?? "stopped")")
                }
                try checkCancelled()
                usleep(1_000)
            }
            let group = BenchPublishers(
                settings: settings,
                host: endpoint.host,
                port: endpoint.port,
                deadline: deadline
            )
            publishers = group
            try group.waitConnected()
            start = BenchMark.now(broker: endpoint.broker)
            start.time = group.release()
        }
        while !outcome.done.load(ordering: .acquiring) {
            recorder.completion.wait(timeoutMilliseconds: 50)
            // A signal first: it also stops the publishers, whose failure would hide it.
            try checkCancelled()
            if let failure = publishers?.failureMessage { throw BenchFailure(failure) }
            progress.show(
                "baseline",
                done: recorder.uniqueCount.load(ordering: .relaxed),
                total: settings.messages,
                since: start.time
            )
        }
        let end = BenchMark.now(broker: endpoint.broker)
        progress.clear()
        try checkCancelled()
        let publishedAt = publishers?.join()
        publishers = nil
        thread.join()
        joined = true
        if !live { start.time = outcome.connectedAt.load(ordering: .relaxed) }
        var result = BenchRunResult(subject: "baseline", settings: settings)
        result.latencyTo = "received by the subscriber"
        result.take(recorder, start: start.time)
        result.failure = outcome.failureMessage
        result.cpu = outcome.cpu.withLock { $0 }
        result.measure(from: start, to: end, brokerRunning: endpoint.broker != nil)
        if let publishedAt, publishedAt > start.time { result.publishSeconds = Double(publishedAt - start.time) / 1e9 }
        result.details.append(("subscriber", .string("libmosquitto \(FastIngest.mosquittoVersion), mosquitto_loop")))
        return result
    }

    // MARK: Gateway

    /// `log.max_bytes` for the run: room for every record (a payload that is not UTF-8 takes its base64 too, plus
    /// the envelope), at least the 1 GiB default, so retention never deletes records before they are verified.
    private var logCapacity: Int {
        max(1 << 30, settings.messages * (settings.payload * 3 + 1024))
    }

    /// The connector file the gateway runs with.
    private func gatewayYAML(_ endpoint: BenchEndpoint, clientID: String, logDirectory: String, rivven: String?)
        -> String
    {
        var yaml = """
            type: mqtt-source
            topic: rivven-mqtt-bench
            config:
              broker_url: \(JSONValue.string(endpoint.url).compact)
              topics: [\(JSONValue.string(settings.topicFilter).compact)]
              qos: \(settings.qos)
              client_id: \(JSONValue.string(clientID).compact)
              clean_session: \(settings.scenario == .live)
              max_inflight: \(settings.inflight)
              format: \(settings.format.rawValue)
            log:
              dir: \(JSONValue.string(logDirectory).compact)
              fsync: batch
              max_bytes: \(logCapacity)
            metrics:
              listen: "off"

            """
        if let bytes = settings.bufferBytes {
            yaml += """
                buffer:
                  capacity_bytes: \(bytes)

                """
        }
        if let rivven {
            yaml += """
                broker:
                  bootstrap_servers: [\(JSONValue.string(rivven).compact)]

                """
        }
        return yaml
    }

    private func makeLogger(_ capture: BenchLogCapture) -> Logger {
        let level = settings.logLevel
        let format = settings.logFormat
        return Logger(label: "rivven-mqtt") { label in
            var printer = StderrLogHandler(label: label, format: format)
            printer.logLevel = level
            return BenchLogHandler(printer: printer, capture: capture, printLevel: level)
        }
    }

    /// Whether a thread of this process is the gateway's (not the bench's tools, not the Rivven test server).
    private static func isGatewayThread(_ name: String) -> Bool {
        !name.hasPrefix("bench-") && !isTestServerThread(name)
    }

    private static func isTestServerThread(_ name: String) -> Bool {
        name == "rivven-accept" || name == "rivven-conn"
    }

    /// The real pipeline in this process (threads `gw-main`, `mqtt-0`, `log-writer`, and `rivven-fwd` with Rivven).
    private func runGateway(into report: inout BenchReport) throws(BenchFailure) -> BenchRunResult {
        let endpoint = try endpoint("gateway")
        defer { endpoint.broker?.stop() }
        report.brokerURL = endpoint.url
        report.brokerVersion = endpoint.broker?.version
        let clientID = "rivven-bench-\(settings.runID)-gw"
        let live = settings.scenario == .live
        var server: RivvenTestServer?
        var rivvenAddress: String?
        switch settings.sink {
        case .rivvenTestServer:
            // Counting only (no records kept), so the process's memory is the gateway's; one partition, as created.
            let testServer = RivvenTestServer(configuration: .init(defaultPartitions: 1, retainRecords: false))
            do {
                rivvenAddress = "127.0.0.1:\(try testServer.start())"
            } catch {
                throw BenchFailure("cannot start the Rivven test server: \(error)")
            }
            server = testServer
        case .rivven(let address):
            rivvenAddress = address
        case .log, .null:
            break
        }
        defer { server?.stop() }
        if !live {
            try createSession(endpoint, clientID: clientID)
            try publishBacklog(endpoint, label: "rivven-mqtt")
        }
        defer { if !live && settings.broker != nil { removeSession(endpoint, clientID: clientID) } }

        let logDirectory = directory + "/gateway-log"
        let configuration: IngestConfiguration
        do {
            configuration = try IngestConfiguration.parse(
                yaml: gatewayYAML(endpoint, clientID: clientID, logDirectory: logDirectory, rivven: rivvenAddress),
                environment: [:],
                hostName: "rivven-bench"
            )
        } catch {
            throw BenchFailure("the bench's gateway configuration was refused: \(error.description)")
        }
        let recorder = BenchRecorder(expected: settings.messages)
        let capture = BenchLogCapture()
        let pipeline = IngestPipeline(
            configuration: configuration,
            sink: settings.sink == .null ? .null : .localLog,
            logger: makeLogger(capture),
            batchObserver: recorder.batchObserver
        )
        let outcome = ThreadOutcome()
        let deadline = makeDeadline()
        let disconnectedLine = "Client \(clientID) disconnected"
        let disconnectsBefore = endpoint.broker?.logLines(containing: disconnectedLine) ?? 0
        BenchSystem.resetPeakRSS()
        var start = BenchMark.now(broker: endpoint.broker)
        let runner = DriverThread(name: "gw-main") {
            do throws(PipelineError) {
                try pipeline.run()
            } catch {
                outcome.fail(error.message)
            }
            outcome.done.store(true, ordering: .releasing)
        }
        var publishers: BenchPublishers?
        var pipelineStopped = false
        defer {
            // Only after a failure: stop and join whatever still runs.
            publishers?.abort()
            publishers?.join()
            if !pipelineStopped {
                pipeline.stop()
                runner.join()
            }
        }
        while !pipeline.isReady {
            if outcome.done.load(ordering: .acquiring) {
                throw BenchFailure("the gateway stopped: \(outcome.failureMessage ?? "no reason given")")
            }
            try checkCancelled()
            if BenchClock.now() > deadline { throw BenchFailure("the gateway did not become ready in time") }
            usleep(1_000)
        }
        if live {
            let group = BenchPublishers(
                settings: settings,
                host: endpoint.host,
                port: endpoint.port,
                deadline: deadline
            )
            publishers = group
            try group.waitConnected()
            start = BenchMark.now(broker: endpoint.broker)
            start.time = group.release()
        } else {
            start.time = capture.connectedAt.load(ordering: .acquiring)
        }

        // Wait for the N-th message at the sink.
        var end: Int64 = 0
        var timedOut = false
        while end == 0 {
            let logDone = recorder.completedAt.load(ordering: .acquiring)
            recorder.completion.wait(timeoutMilliseconds: logDone > 0 ? 1 : 50)
            let completedAt = recorder.completedAt.load(ordering: .acquiring)
            if completedAt > 0 {
                switch settings.sink {
                case .log, .null:
                    end = completedAt
                case .rivvenTestServer:
                    if let server, server.statistics.recordsStored >= settings.messages { end = BenchClock.now() }
                case .rivven:
                    let forwarded = pipeline.metricsSnapshot().rivvenRecordsForwarded
                    if forwarded >= UInt64(settings.messages) { end = BenchClock.now() }
                }
                if end > 0 { break }
            }
            progress.show(
                "rivven-mqtt",
                done: recorder.uniqueCount.load(ordering: .relaxed),
                total: settings.messages,
                since: start.time
            )
            if outcome.done.load(ordering: .acquiring) {
                throw BenchFailure("the gateway stopped: \(outcome.failureMessage ?? "no reason given")")
            }
            // A signal first: it also stops the publishers, whose failure would hide it.
            try checkCancelled()
            if let failure = publishers?.failureMessage { throw BenchFailure(failure) }
            if BenchClock.now() > deadline {
                timedOut = true
                break
            }
        }
        let endMark = BenchMark.now(broker: endpoint.broker)
        progress.clear()
        let publishedAt = publishers?.join()
        let publisherFailure = publishers?.failureMessage
        publishers = nil
        pipeline.stop()
        runner.join()
        pipelineStopped = true
        if let failure = outcome.failureMessage { throw BenchFailure("the gateway failed: \(failure)") }
        let counters = pipeline.metricsSnapshot()

        var result = BenchRunResult(subject: "rivven-mqtt", settings: settings)
        result.take(recorder, start: start.time)
        // The log's completion for log/null; Rivven's for the Rivven sinks.
        result.seconds = end > 0 ? Double(end - start.time) / 1e9 : nil
        if timedOut {
            result.failure = "timed out after \(settings.timeoutSeconds) s"
        } else if let publisherFailure {
            result.failure = publisherFailure
        }
        result.measure(from: start, to: endMark, brokerRunning: endpoint.broker != nil)
        let gatewayTicks = BenchMark.threadTicks(from: start, to: endMark, include: Self.isGatewayThread)
        result.cpu = (gatewayTicks.userSeconds, gatewayTicks.systemSeconds)
        // Where the gateway's CPU went, by thread: the evidence a profile starts from.
        for (key, prefix) in [
            ("cpu_mqtt_s", "mqtt-"), ("cpu_writer_s", "log-writer"), ("cpu_io_uring_workers_s", "iou-"),
            ("cpu_forwarder_s", "rivven-fwd"),
        ] {
            let ticks = BenchMark.threadTicks(from: start, to: endMark) { $0.hasPrefix(prefix) }
            let seconds = ticks.userSeconds + ticks.systemSeconds
            if seconds > 0 { result.details.append((key, .double(seconds, 2))) }
        }
        if let publishedAt, publishedAt > start.time { result.publishSeconds = Double(publishedAt - start.time) / 1e9 }
        report.writer = settings.sink == .null ? "none (null sink)" : capture.writer
        report.rivvenTransport = capture.rivvenTransport

        // Verification at the sink.
        switch settings.sink {
        case .null:
            result.latencyTo = "written (null sink: no disk)"
            result.verifiedAt = "the writer (null sink keeps nothing)"
        case .log:
            result.latencyTo = "durable in the local log"
            try verifyLog(logDirectory, into: &result)
        case .rivvenTestServer:
            result.latencyTo = "durable in the local log"
            try verifyLog(logDirectory, into: &result)
            result.walLoss = result.loss
            let statistics = server?.statistics
            let stored = statistics?.recordsStored ?? 0
            result.loss = max(0, settings.messages - stored)
            result.duplicates = max(0, stored - settings.messages)
            result.verifiedAt = "the Rivven test server (records stored; the local log checked too)"
            let serverTicks = BenchMark.threadTicks(from: start, to: endMark, include: Self.isTestServerThread)
            result.details += [
                ("rivven_records_stored", .int(stored)),
                ("rivven_duplicate_batches", .int(statistics?.duplicatesDetected ?? 0)),
                ("rivven_test_server_cpu_s", .double(serverTicks.userSeconds + serverTicks.systemSeconds, 2)),
            ]
        case .rivven(let address):
            result.latencyTo = "durable in the local log"
            try verifyLog(logDirectory, into: &result)
            result.walLoss = result.loss
            let forwarded = Int(counters.rivvenRecordsForwarded)
            result.loss = max(0, settings.messages - forwarded)
            result.duplicates = 0
            result.verifiedAt = "Rivven at \(address) (records acknowledged; the local log checked for every number)"
            result.details.append(("rivven_records_acknowledged", .int(forwarded)))
        }
        if rivvenAddress != nil, let tail = result.seconds, recorder.completedAt.load(ordering: .acquiring) > 0 {
            let logSeconds = Double(recorder.completedAt.load(ordering: .acquiring) - start.time) / 1e9
            result.details.append(("log_complete_s", .double(logSeconds, 4)))
            result.details.append(("forwarding_tail_ms", .double((tail - logSeconds) * 1000, 1)))
        }
        result.details += [
            ("messages_received", .int(Int(counters.messagesReceived))),
            ("batches", .int(Int(counters.batchCount))),
            ("avg_batch_size", .double(counters.averageBatchSize, 1)),
            ("duplicates_redelivered", .int(Int(counters.duplicatesRedelivered))),
        ]
        if !live && settings.qos > 0 {
            // The broker must have read the gateway's last PUBACKs and its DISCONNECT first: a new connection with
            // the same client id would make it close the old one with whatever it had not read yet. The private
            // broker logs the disconnect; a --broker gets a second.
            if let broker = endpoint.broker {
                let waitUntil = BenchClock.now() + 10_000_000_000
                while broker.logLines(containing: disconnectedLine) <= disconnectsBefore && BenchClock.now() < waitUntil
                {
                    usleep(10_000)
                }
            } else {
                sleep(1)
            }
            // Every message was acknowledged (after it was durable) when the broker has nothing left to redeliver.
            if let (count, first) = redelivered(endpoint, clientID: clientID, milliseconds: 500) {
                result.details.append(("redelivered_after_stop", .int(count)))
                if !first.isEmpty {
                    result.details.append(("redelivered_sequences_first", .array(first.map { .int($0) })))
                }
            }
        }
        let problems = capture.problems
        if !problems.isEmpty { result.details.append(("warnings", .array(problems.map { .string($0) }))) }
        return result
    }

    /// Reads the gateway's local log back and checks every sequence number in it.
    private func verifyLog(_ logDirectory: String, into result: inout BenchRunResult) throws(BenchFailure) {
        var tracker = SequenceTracker(expected: settings.messages)
        var unparsable = 0
        var records = 0
        do throws(LogError) {
            let reader = try LogReader(directory: logDirectory)
            while let record = try reader.next() {
                records += 1
                let header = record.value.withUnsafeBytes { BenchPayload.find(in: $0) }
                if let header { tracker.record(header.sequence) } else { unparsable += 1 }
            }
        } catch {
            throw BenchFailure("cannot read the gateway's local log back: \(error)")
        }
        result.received = tracker.unique
        result.loss = tracker.missing
        result.duplicates = tracker.duplicates + tracker.outOfRange
        result.unparsable = unparsable
        result.verifiedAt = "the local log, read back after the run (\(records) records)"
        if tracker.missing > 0 {
            result.details.append(
                ("missing_sequences_first", .array(tracker.missingSequences(limit: 10).map { .int($0) }))
            )
        }
    }
}
