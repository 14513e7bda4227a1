import Glibc
public import Logging
import Synchronization

/// Wires every MQTT source of a configuration (× its `connections`) to an output, owns their threads, and stops
/// them in order: stop reading, commit what was received, release acknowledgements, DISCONNECT.
public final class IngestPipeline: Sendable {
    private let configuration: IngestConfiguration
    private let output: LineOutput
    private let logger: Logger
    /// The hot-path counters of this pipeline.
    public let counters = IngestCounters()
    private let connections: Mutex<[MQTTConnection]> = Mutex([])
    private let fatal: Mutex<MQTTError?> = Mutex(nil)
    private let done = WakePipe()

    /// Creates a pipeline; nothing runs until `run()`.
    public init(configuration: IngestConfiguration, output: LineOutput, logger: Logger) {
        self.configuration = configuration
        self.output = output
        self.logger = logger
    }

    /// Whether every connection is up and subscribed (readiness).
    public var isReady: Bool {
        connections.withLock { list in !list.isEmpty && list.allSatisfy { $0.isConnected && $0.isSubscribed } }
    }

    /// Runs until `stop()` or a fatal error; then drains and disconnects every connection.
    /// Throws the first fatal error (exit code 1 for the command).
    public func run() throws(PipelineError) {
        let created: [MQTTConnection]
        do {
            created = try startConnections()
        } catch {
            stop()
            throw PipelineError(.mqtt, error.message)
        }
        connections.withLock { $0 = created }
        done.wait(timeoutMilliseconds: -1)
        logger.info("stopping: draining and disconnecting")
        for connection in created { connection.stop() }
        for connection in created { connection.join() }
        logger.info(
            "stopped",
            metadata: [
                "messages_received": "\(counters.messagesReceived.load(ordering: .relaxed))",
                "records_written": "\(counters.recordsWritten.load(ordering: .relaxed))",
            ]
        )
        if let error = fatal.withLock({ $0 }) {
            throw PipelineError(.mqtt, error.message)
        }
    }

    private func startConnections() throws(MQTTError) -> [MQTTConnection] {
        var started: [MQTTConnection] = []
        for source in configuration.sources {
            for index in 0..<source.mqtt.connections {
                var sourceLogger = logger
                sourceLogger[metadataKey: "source"] = "\(source.name)"
                let errorLogger = sourceLogger
                let outputName = output.name
                let handler = JSONLineHandler(
                    source: source,
                    connectionIndex: index,
                    output: output,
                    counters: counters
                ) { errorNumber in
                    let reason = String(cString: strerror(errorNumber))
                    errorLogger.error(
                        "cannot write to \(outputName): \(reason); holding acknowledgements until it recovers"
                    )
                } onOversize: { topic, size, count in
                    errorLogger.warning(
                        "message larger than max_payload_bytes",
                        metadata: [
                            "mqtt.topic": "\(topic)", "payload_bytes": "\(size)",
                            "max_payload_bytes": "\(source.mqtt.maxPayloadBytes)", "oversize_total": "\(count)",
                        ]
                    )
                }
                let connection = MQTTConnection(
                    configuration: source.mqtt,
                    index: index,
                    handler: handler,
                    counters: counters,
                    logger: sourceLogger
                ) { [weak self] event in
                    self?.handle(event)
                }
                do throws(MQTTError) {
                    try connection.start()
                } catch {
                    for c in started { c.stop() }
                    for c in started { c.join() }
                    throw error
                }
                started.append(connection)
            }
        }
        return started
    }

    private func handle(_ event: MQTTConnectionEvent) {
        if case .fatal(let error) = event {
            logger.error("\(error.message)")
            fatal.withLock { if $0 == nil { $0 = error } }
            stop()
        }
    }

    /// Asks the pipeline to stop (signal handlers call this). Safe from any thread, any number of times.
    public func stop() {
        done.signal()
    }
}
