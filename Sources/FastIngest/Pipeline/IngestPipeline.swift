import Glibc
public import Logging
import Synchronization

/// Where a pipeline writes.
public enum IngestSink: Sendable {
    /// The local durable log in `log.dir` (the embedded default sink; the write-ahead log).
    case localLog
    /// One JSON line per message to a file or stdout, for debugging (`run --output`).
    case lines(LineOutput)
    /// The local log's code path with every write and sync discarded (``NullFileWriter``): the gateway minus the
    /// disk, for `rivven-mqtt bench --sink null`. `log.dir` then holds empty scratch files.
    case null
}

/// Wires every MQTT source of a configuration (× its `connections`) to the sink, owns their threads, and stops
/// them in order: stop reading, make what was received durable, release acknowledgements, DISCONNECT, then stop
/// the writer.
public final class IngestPipeline: Sendable {
    private let configuration: IngestConfiguration
    private let sink: IngestSink
    private let logger: Logger
    /// The hot-path counters of this pipeline.
    public let counters = IngestCounters()
    private let connections: Mutex<[(connection: MQTTConnection, status: ConnectionStatus)]> = Mutex([])
    private let rings: Mutex<[MessageRing]> = Mutex([])
    private let forwarders: Mutex<[(source: String, forwarder: RivvenForwarder)]> = Mutex([])
    private let writers: Mutex<[(source: String, writer: LogWriter)]> = Mutex([])
    /// The last reason a source's log could not be written, for `/ready` (set on a failure, which is rare).
    private let writeFailures: Mutex<[String: String]> = Mutex([:])
    private let fatal: Mutex<String?> = Mutex(nil)
    private let stopping = Atomic<Bool>(false)
    private let done = WakePipe()
    private let batchObserver: WrittenBatchObserver?

    /// What readiness needs to know of one connection besides its own flags.
    private final class ConnectionStatus: Sendable {
        let source: String
        let index: Int
        let requestedQoS: Int
        /// The last SUBACK granted some filter a lower QoS than requested.
        let downgraded = Atomic<Bool>(false)

        init(source: String, index: Int, requestedQoS: Int) {
            self.source = source
            self.index = index
            self.requestedQoS = requestedQoS
        }
    }

    /// Creates a pipeline; nothing runs until `run()`.
    public convenience init(configuration: IngestConfiguration, sink: IngestSink, logger: Logger) {
        self.init(configuration: configuration, sink: sink, logger: logger, batchObserver: nil)
    }

    /// Creates a pipeline whose log writers hand every appended batch to `batchObserver` (`rivven-mqtt bench`).
    package init(
        configuration: IngestConfiguration,
        sink: IngestSink,
        logger: Logger,
        batchObserver: WrittenBatchObserver?
    ) {
        self.configuration = configuration
        self.sink = sink
        self.logger = logger
        self.batchObserver = batchObserver
    }

    /// The counters plus the gauges read from the rings (depth, acknowledgements held).
    public func metricsSnapshot() -> IngestMetricsSnapshot {
        var snapshot = counters.snapshot()
        for ring in rings.withLock({ $0 }) {
            snapshot.ringDepth += UInt64(ring.availableCount)
            // Durable is read after published, so it may already be ahead of the value read: clamp at zero.
            let durable = ring.durable.load(ordering: .acquiring)
            let published = ring.publishedCountObserved
            snapshot.unacknowledgedInFlight += published > durable ? published - durable : 0
        }
        for (_, writer) in writers.withLock({ $0 }) {
            snapshot.logBytes += UInt64(max(0, writer.logBytes.load(ordering: .relaxed)))
        }
        let forwarding = forwarders.withLock { $0.map(\.forwarder) }
        if !forwarding.isEmpty {
            snapshot.rivvenConnected = forwarding.allSatisfy { $0.isConnected.load(ordering: .relaxed) } ? 1 : 0
            let nowMicros = WallClockTime.now().nanosecondsSinceEpoch / 1000
            for forwarder in forwarding {
                let durable = forwarder.link.durableEnd.load(ordering: .acquiring)
                let acknowledged = forwarder.link.acknowledged.load(ordering: .acquiring)
                snapshot.forwarderLagRecords += durable > acknowledged ? durable - acknowledged : 0
                let oldest = forwarder.oldestPendingReceiveMicros.load(ordering: .relaxed)
                if oldest > 0 {
                    snapshot.forwarderOldestPendingAgeMs = max(
                        snapshot.forwarderOldestPendingAgeMs,
                        UInt64(max(0, nowMicros - oldest) / 1000)
                    )
                }
            }
        }
        return snapshot
    }

    /// Whether the pipeline ingests (``readiness()`` has no reason against it).
    public var isReady: Bool {
        readiness().ready
    }

    /// Whether the pipeline ingests (SPEC §7 `/ready`): every connection is up and subscribed at the requested QoS,
    /// and every sink accepts writes (the log is writable and not full, Rivven connected when configured). Otherwise
    /// the reasons, one per problem, each naming its part (`mqtt:`, `log:`, `rivven:`, `pipeline:`).
    public func readiness() -> (ready: Bool, reasons: [String]) {
        var reasons: [String] = []
        if let message = fatal.withLock({ $0 }) {
            reasons.append("pipeline: stopped on a fatal error: \(message)")
        } else if stopping.load(ordering: .relaxed) {
            reasons.append("pipeline: stopping")
        }
        let list = connections.withLock { $0 }
        if list.isEmpty && reasons.isEmpty {
            reasons.append("pipeline: starting")
        }
        for (connection, status) in list {
            let which = "source \(status.source), connection \(status.index)"
            if !connection.isConnected {
                reasons.append("mqtt: not connected (\(which))")
            } else if !connection.isSubscribed {
                reasons.append("mqtt: connected, not yet subscribed (\(which))")
            } else if status.downgraded.load(ordering: .relaxed) {
                reasons.append(
                    "mqtt: subscription not granted at requested QoS \(status.requestedQoS) (\(which))"
                )
            }
        }
        let failures = writeFailures.withLock { $0 }
        for (source, writer) in writers.withLock({ $0 }) {
            if writer.isFailing.load(ordering: .relaxed) {
                let cause = failures[source].map { ": \($0)" } ?? ""
                reasons.append("log: not writable (source \(source))\(cause)")
            }
            if writer.isFull.load(ordering: .relaxed) {
                reasons.append("log: full (log.max_bytes), waiting for Rivven (source \(source))")
            }
        }
        for (source, forwarder) in forwarders.withLock({ $0 }) where !forwarder.isConnected.load(ordering: .relaxed) {
            reasons.append("rivven: not connected (source \(source))")
        }
        return (reasons.isEmpty, reasons)
    }

    /// Runs until `stop()` or a fatal error; then drains and disconnects every connection.
    /// Throws the first fatal error (exit code 1 for the command).
    public func run() throws(PipelineError) {
        var writers: [LogWriter] = []
        var forwarding: [RivvenForwarder] = []
        let created: [MQTTConnection]
        do {
            switch sink {
            case .lines(let output):
                created = try startLineConnections(output)
            case .localLog, .null:
                (created, writers, forwarding) = try startLogConnections()
            }
        } catch {
            stop()
            throw error
        }
        done.wait(timeoutMilliseconds: -1)
        logger.info("stopping: draining, acknowledging and disconnecting")
        for connection in created { connection.stop() }
        for connection in created { connection.join() }
        for writer in writers { writer.stop() }
        for writer in writers { writer.join() }
        for forwarder in forwarding { forwarder.stop() }
        for forwarder in forwarding { forwarder.join() }
        let snapshot = metricsSnapshot()
        logger.info(
            "stopped",
            metadata: [
                "messages_received": "\(snapshot.messagesReceived)",
                "records_written": "\(snapshot.recordsWritten)",
                "records_forwarded": "\(snapshot.rivvenRecordsForwarded)",
                "batches": "\(snapshot.batchCount)",
                "dropped": "\(snapshot.droppedRingFull + snapshot.droppedTooLarge + snapshot.droppedUnwritable)",
                "metrics": "\(snapshot.json)",
            ]
        )
        if let message = fatal.withLock({ $0 }) {
            throw PipelineError(.mqtt, message)
        }
    }

    // MARK: Local log

    private func openLog(for source: SourceConfiguration, logger: Logger) throws(PipelineError) -> LocalLog {
        let (fileWriter, fallbackReason): (any DurableFileWriter, String?)
        switch sink {
        case .null: (fileWriter, fallbackReason) = (NullFileWriter(), nil)
        default: (fileWriter, fallbackReason) = DurableFileWriters.make(preferIOURing: true)
        }
        if let fallbackReason {
            logger.notice("io_uring not used; writing with pwrite/fdatasync", metadata: ["reason": "\(fallbackReason)"])
        }
        var logConfiguration = configuration.log
        logConfiguration.dir = configuration.logDirectory(for: source)
        let log: LocalLog
        do {
            log = try LocalLog(
                configuration: logConfiguration,
                writer: fileWriter,
                forwardingEnabled: configuration.rivven != nil
            )
        } catch {
            throw PipelineError(.output, "cannot open the local log in \(logConfiguration.dir): \(error)")
        }
        let recovery = log.recovery
        if recovery.truncatedBytes > 0 {
            IngestCounters.bump(counters.logTruncatedBytes, by: UInt64(recovery.truncatedBytes))
            logger.warning(
                "local log had a torn tail after a crash; truncated it",
                metadata: ["log.truncated_bytes": "\(recovery.truncatedBytes)", "log.next_offset": "\(log.nextOffset)"]
            )
        }
        logger.info(
            "local log open",
            metadata: [
                "log.dir": "\(logConfiguration.dir)", "log.writer": "\(fileWriter.kind)",
                "log.next_offset": "\(log.nextOffset)", "log.fsync": "\(configuration.log.fsync)",
            ]
        )
        return log
    }

    /// One local log and one writer thread per source (a rivven-connect file's sources each get `log.dir/NAME`),
    /// fed by one ring per connection.
    private func startLogConnections() throws(PipelineError) -> ([MQTTConnection], [LogWriter], [RivvenForwarder]) {
        var connections: [MQTTConnection] = []
        var writers: [LogWriter] = []
        var forwarding: [RivvenForwarder] = []
        func abandon() {
            for c in connections { c.stop() }
            for c in connections { c.join() }
            for w in writers { w.stop() }
            for w in writers { w.join() }
            for f in forwarding { f.stop() }
            for f in forwarding { f.join() }
        }
        for source in configuration.sources {
            let sourceLogger = logger(for: source)
            let log: LocalLog
            do {
                log = try openLog(for: source, logger: sourceLogger)
            } catch {
                abandon()
                throw error
            }
            let signal = WriterSignal()
            var pending: [(MQTTConnection, LogWriter.Source)] = []
            for index in 0..<source.mqtt.connections {
                let ring = MessageRing(
                    messages: configuration.buffer.capacityMessages,
                    bytes: configuration.buffer.capacityBytes,
                    // drop_oldest discards from the producer's side, out of the consumer's release order.
                    givesBackPages: configuration.buffer.whenFull != .dropOldest
                )
                let handler = RingHandler(
                    ring: ring,
                    policy: configuration.buffer.whenFull,
                    maxPayloadBytes: source.mqtt.maxPayloadBytes,
                    commitCount: RingHandler.commitCount(
                        maxInflight: source.mqtt.maxInflight,
                        batchMaxMessages: configuration.batch.maxMessages
                    ),
                    counters: counters,
                    writer: signal,
                    onOversize: oversizeReport(source, sourceLogger)
                ) { reason, total in
                    sourceLogger.warning("message dropped: \(reason)", metadata: ["dropped_total": "\(total)"])
                }
                let connection = makeConnection(source, index: index, handler: handler, logger: sourceLogger)
                let writerSource = LogWriter.Source(ring: ring, source: source, connectionIndex: index) {
                    [weak connection] in connection?.wake()
                }
                pending.append((connection, writerSource))
                rings.withLock { $0.append(ring) }
            }
            var link: ForwardingLink?
            var forwarder: RivvenForwarder?
            if let rivven = configuration.rivven {
                let mapper: RecordMapper
                do {
                    mapper = try RecordMapper(source: source)
                } catch {
                    abandon()
                    throw PipelineError(.output, "source \(source.name): \(error)")
                }
                let forwardingLink = ForwardingLink(
                    durableEnd: log.nextOffset,
                    acknowledged: log.readForwarded(),
                    writerSignal: signal,
                    gateAcknowledgements: configuration.log.fsync == .never
                )
                link = forwardingLink
                forwarder = RivvenForwarder(
                    link: forwardingLink,
                    rivven: rivven,
                    source: source,
                    mapper: mapper,
                    batch: configuration.batch,
                    directory: configuration.logDirectory(for: source),
                    startOffset: log.readForwarded(),
                    counters: counters,
                    onEvent: forwarderEventLogger(sourceLogger)
                )
                if log.nextOffset > log.readForwarded() {
                    sourceLogger.info(
                        "records in the local log wait to be forwarded to Rivven",
                        metadata: [
                            "log.forwarded": "\(log.readForwarded())", "log.next_offset": "\(log.nextOffset)",
                        ]
                    )
                }
            }
            let writer = LogWriter(
                signal: signal,
                sources: pending.map(\.1),
                log: log,
                batch: configuration.batch,
                fsync: configuration.log.fsync,
                counters: counters,
                link: link,
                observer: batchObserver
            ) { [weak self] event in
                switch event {
                case .writeFailed(let reason):
                    self?.writeFailures.withLock { $0[source.name] = reason }
                    sourceLogger.error(
                        "cannot write the local log: \(reason); holding acknowledgements and retrying until it recovers"
                    )
                case .writeRecovered:
                    sourceLogger.notice("local log writes recovered")
                case .abandoned(let count):
                    sourceLogger.error(
                        """
                        stopped with \(count) messages not written: the local log could not be written (or was full); \
                        QoS 1/2 messages were not acknowledged and stay with the broker for a persistent session
                        """
                    )
                case .logFull(let bytes):
                    sourceLogger.error(
                        """
                        local log is full (log.max_bytes) with records Rivven has not acknowledged; intake paused \
                        (buffer.when_full applies) until Rivven takes records again
                        """,
                        metadata: ["log.bytes": "\(bytes)"]
                    )
                case .logFullCleared:
                    sourceLogger.notice("local log has room again; intake resumed")
                }
            }
            writer.start()
            writers.append(writer)
            self.writers.withLock { $0.append((source.name, writer)) }
            if let forwarder {
                forwarder.start()
                forwarding.append(forwarder)
                self.forwarders.withLock { $0.append((source.name, forwarder)) }
            }
            for (connection, _) in pending {
                do throws(MQTTError) {
                    try connection.start()
                } catch {
                    abandon()
                    throw PipelineError(.mqtt, error.message)
                }
                connections.append(connection)
            }
        }
        return (connections, writers, forwarding)
    }

    private func forwarderEventLogger(_ logger: Logger) -> (RivvenForwarder.Event) -> Void {
        { event in
            switch event {
            case .connected(let server, let transport, let producer):
                logger.info(
                    "connected to Rivven",
                    metadata: ["rivven.server": "\(server)", "transport": "\(transport)", "producer": "\(producer)"]
                )
            case .connectionFailed(let reason, let retry, let attempt):
                let metadata: Logger.Metadata = ["retry_in_ms": "\(retry)", "attempt": "\(attempt)"]
                // Once per outage at warning level, then quietly: records keep accumulating in the local log.
                if attempt == 1 || attempt % 20 == 0 {
                    logger.warning("cannot reach Rivven: \(reason); records stay in the local log", metadata: metadata)
                } else {
                    logger.debug("cannot reach Rivven: \(reason)", metadata: metadata)
                }
            case .connectionLost(let reason, let unanswered):
                logger.warning(
                    "Rivven connection lost: \(reason); reconnecting and resending unacknowledged batches",
                    metadata: ["unanswered_batches": "\(unanswered)"]
                )
            case .topicReady(let topic, let partitions, let created, let assumed):
                logger.info(
                    assumed
                        ? "Rivven topic does not exist yet; publishing creates it (partition 0 used)"
                        : created ? "created Rivven topic" : "Rivven topic exists",
                    metadata: ["rivven.topic": "\(topic)", "partitions": "\(partitions)"]
                )
            case .batchRefused(let reason, let topic, let partition, let retry):
                logger.warning(
                    "Rivven refused a batch: \(reason); retrying",
                    metadata: ["rivven.topic": "\(topic)", "partition": "\(partition)", "retry_in_ms": "\(retry)"]
                )
            case .producerReset(let reason, let resent):
                logger.warning(
                    """
                    Rivven no longer knows this producer (\(reason)); took a new producer id and resend \(resent) \
                    unacknowledged batches (records whose acknowledgement was lost may be stored twice)
                    """
                )
            case .recordDropped(let offset, let reason):
                logger.warning(
                    "record not forwarded (no dead_letter_topic): \(reason); the local log keeps it",
                    metadata: ["log.offset": "\(offset)"]
                )
            case .deadLettered(let offset, let reason):
                logger.notice("record sent to the dead-letter topic: \(reason)", metadata: ["log.offset": "\(offset)"])
            case .checkpointFailed(let reason):
                logger.error("forwarder: \(reason)")
            case .stopped(let acknowledged, let durable):
                logger.info(
                    durable > acknowledged
                        ? "forwarder stopped; records not yet acknowledged by Rivven stay in the local log"
                        : "forwarder stopped; everything was forwarded",
                    metadata: ["log.forwarded": "\(acknowledged)", "log.next_offset": "\(durable)"]
                )
            }
        }
    }

    // MARK: Line output (debugging)

    private func startLineConnections(_ output: LineOutput) throws(PipelineError) -> [MQTTConnection] {
        var started: [MQTTConnection] = []
        for source in configuration.sources {
            for index in 0..<source.mqtt.connections {
                let sourceLogger = logger(for: source)
                let handler = JSONLineHandler(
                    source: source,
                    connectionIndex: index,
                    output: output,
                    counters: counters,
                    onWriteError: { errorNumber in
                        let reason = String(cString: strerror(errorNumber))
                        sourceLogger.error(
                            "cannot write to \(output.name): \(reason); holding acknowledgements until it recovers"
                        )
                    },
                    onOversize: oversizeReport(source, sourceLogger)
                )
                let connection = makeConnection(source, index: index, handler: handler, logger: sourceLogger)
                do throws(MQTTError) {
                    try connection.start()
                } catch {
                    for c in started { c.stop() }
                    for c in started { c.join() }
                    throw PipelineError(.mqtt, error.message)
                }
                started.append(connection)
            }
        }
        return started
    }

    // MARK: Shared

    private func oversizeReport(_ source: SourceConfiguration, _ logger: Logger) -> (String, Int, UInt64) -> Void {
        { topic, size, total in
            logger.warning(
                "message larger than max_payload_bytes; written to the log",
                metadata: [
                    "mqtt.topic": "\(topic)", "payload_bytes": "\(size)",
                    "max_payload_bytes": "\(source.mqtt.maxPayloadBytes)", "oversize_total": "\(total)",
                ]
            )
        }
    }

    private func logger(for source: SourceConfiguration) -> Logger {
        var sourceLogger = logger
        sourceLogger[metadataKey: "source"] = "\(source.name)"
        return sourceLogger
    }

    /// A connection for `source`, listed for readiness from now on.
    private func makeConnection(
        _ source: SourceConfiguration,
        index: Int,
        handler: any MQTTMessageHandler,
        logger: Logger
    ) -> MQTTConnection {
        let status = ConnectionStatus(
            source: source.name,
            index: index,
            requestedQoS: Int(source.mqtt.qos.rawValue)
        )
        let connection = MQTTConnection(
            configuration: source.mqtt,
            index: index,
            handler: handler,
            counters: counters,
            logger: logger
        ) { [weak self] event in
            self?.handle(event, status: status)
        }
        connections.withLock { $0.append((connection, status)) }
        return connection
    }

    private func handle(_ event: MQTTConnectionEvent, status: ConnectionStatus) {
        switch event {
        case .subscribed(let granted):
            // A refused filter (0x80) is fatal and reported as such; a lower grant keeps the pipeline not ready.
            status.downgraded.store(granted.contains { $0 < status.requestedQoS }, ordering: .relaxed)
        case .fatal(let error):
            logger.error("\(error.message)")
            fatal.withLock { if $0 == nil { $0 = error.message } }
            stop()
        default:
            break
        }
    }

    /// Asks the pipeline to stop (signal handlers call this). Safe from any thread, any number of times.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        done.signal()
    }
}
