import ArgumentParser
import Dispatch
import FastIngest
import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// `rivven-mqtt run`: the pipeline until SIGINT/SIGTERM.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline until SIGINT/SIGTERM, then drain, acknowledge, DISCONNECT and exit 0.",
        discussion: """
            Serves GET /metrics (Prometheus text), /metrics.json, /health and /ready on metrics.listen \
            (default 127.0.0.1:9464; `off` disables). The first SIGINT/SIGTERM drains (at most 10 s), a second \
            one exits at once.
            """ + "\n\n" + ConfigurationDefaultsHelp.discussion
    )

    @OptionGroup var config: ConfigOption
    @OptionGroup var global: GlobalOptions

    @Option(
        help: """
            Debugging: write one JSON line per message to '-' (stdout) or a file (appended) instead of the \
            local log. Default: the local log in log.dir.
            """
    )
    var output: String?

    func run() throws {
        let logger = global.bootstrapLogging()
        let configuration = try config.load()
        for skipped in configuration.skippedConnectors {
            logger.warning("skipping a source that is not an MQTT source", metadata: ["source": "\(skipped)"])
        }
        let sink: IngestSink
        do {
            switch output {
            case nil: sink = .localLog
            case "-": sink = .lines(.standardOutput())
            case let path?: sink = .lines(try .file(path))
            }
        } catch {
            throw CommandFailure(message: "error: \(error.message)", exitCode: 2)
        }
        // A file-size limit (RLIMIT_FSIZE) must surface as a write error (EFBIG) that the writer retries, like a full
        // disk, not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        let pipeline = IngestPipeline(configuration: configuration, sink: sink, logger: logger)
        let shutdown = ShutdownTrigger()
        // Before any other thread exists (NIO's, Swift concurrency's): they inherit the blocked signals.
        SignalWatcher.start(logger: logger) { shutdown.trigger() }
        for source in configuration.sources {
            logger.info(
                "starting",
                metadata: [
                    "source": "\(source.name)", "mqtt.broker": "\(source.mqtt.brokerURL.original)",
                    "mqtt.client_id": "\(source.mqtt.clientID)", "mqtt.filters": "\(source.mqtt.subscriptionFilters)",
                    "mqtt.qos": "\(source.mqtt.qos.rawValue)",
                ]
            )
        }
        let metrics = configuration.metrics
        let outcome = BlockingTask.run {
            try await Self.serve(pipeline: pipeline, metrics: metrics, shutdown: shutdown, logger: logger)
        }
        switch outcome {
        case .success:
            return
        case .failure(let error as PipelineError):
            throw CommandFailure(message: "error: \(error.message)", exitCode: 1)
        case .failure(let error as HTTPServerError):
            throw CommandFailure(message: "error: \(error)", exitCode: 1)
        case .failure(is PipelineService.DrainTimedOut):
            // The pipeline's threads are still draining: leave without running exit handlers under them. What was
            // not acknowledged stays with the broker (persistent session); a torn log tail is truncated at start-up.
            writeStandardError(
                """
                error: the graceful drain did not finish within \(Self.drainSeconds) s; exiting without it \
                (unacknowledged QoS 1/2 messages stay with the broker for a persistent session)
                """
            )
            _exit(1)
        case .failure(let error):
            throw CommandFailure(message: "error: \(error)", exitCode: 1)
        }
    }

    /// SPEC §4: a graceful stop exits within 10 s.
    static let drainSeconds = 10

    /// Binds the metrics endpoint, then runs the pipeline and the endpoint as services until a graceful shutdown
    /// (the first signal) has stopped both, in reverse order: the pipeline drains first, the endpoint goes last.
    private static func serve(
        pipeline: IngestPipeline,
        metrics: MetricsConfiguration,
        shutdown: ShutdownTrigger,
        logger: Logger
    ) async throws {
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let listen = metrics.listen {
            let endpoint = HTTPEndpoint(
                exposition: PrometheusExposition(prefix: metrics.prefix),
                snapshot: { pipeline.metricsSnapshot() },
                readiness: { pipeline.readiness() }
            )
            let server: HTTPMetricsServer
            do {
                server = try await HTTPMetricsServer.bind(listen: listen, endpoint: endpoint, group: eventLoops)
            } catch {
                try? await eventLoops.shutdownGracefully()
                throw error
            }
            logger.info(
                "metrics endpoint listening",
                metadata: [
                    "metrics.listen": "\(server.boundAddress)", "paths": "/metrics /metrics.json /health /ready",
                ]
            )
            services.append(
                .init(
                    service: server,
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup
                )
            )
        }
        services.append(
            .init(
                service: PipelineService(pipeline: pipeline),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup
            )
        )
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(drainSeconds)
        let group = ServiceGroup(configuration: configuration)
        shutdown.attach(group)
        do {
            try await group.run()
        } catch let error as PipelineService.DrainTimedOut {
            throw error
        } catch {
            try? await eventLoops.shutdownGracefully()
            throw error
        }
        try? await eventLoops.shutdownGracefully()
    }
}

/// Forwards the first signal to the service group as a graceful shutdown, also when it comes before the group
/// exists (while the endpoint binds): the group then shuts down as soon as it runs.
final class ShutdownTrigger: Sendable {
    private let state = Mutex<(group: ServiceGroup?, requested: Bool)>((nil, false))

    func attach(_ group: ServiceGroup) {
        let requested = state.withLock { state in
            state.group = group
            return state.requested
        }
        if requested { Task { await group.triggerGracefulShutdown() } }
    }

    func trigger() {
        let group = state.withLock { state in
            state.requested = true
            return state.group
        }
        if let group { Task { await group.triggerGracefulShutdown() } }
    }
}

/// Runs async work from the synchronous command and waits for it on the calling thread.
enum BlockingTask {
    static func run(_ body: @escaping @Sendable () async throws -> Void) -> Result<Void, any Error> {
        let result = Mutex<Result<Void, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<Void, any Error>
            do {
                try await body()
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            result.withLock { $0 = outcome }
            finished.signal()
        }
        finished.wait()
        return result.withLock { $0 } ?? .success(())
    }
}

/// SIGINT/SIGTERM handling: the first signal asks for a graceful stop, a second one exits at once.
enum SignalWatcher {
    /// Blocks the signals in every thread (call before starting any) and waits for them on a thread of its own.
    static func start(logger: Logger, onFirst: @escaping @Sendable () -> Void) {
        watch(thread: "signals") { name in
            logger.notice("\(name) received: stopping gracefully (send again to exit at once)")
            onFirst()
        } onAgain: { name in
            logger.warning("\(name) received again: exiting at once")
        }
    }

    /// Blocks SIGINT and SIGTERM in every thread (call before starting any) and waits for them on a thread named
    /// `thread`: `onFirst` runs for the first one; for any later one `onAgain` runs and the process exits at once
    /// (status 128 + the signal). Both get the signal's name.
    static func watch(
        thread: String,
        onFirst: @escaping @Sendable (String) -> Void,
        onAgain: @escaping @Sendable (String) -> Void
    ) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        _ = DriverThread(name: thread) {
            var set = watched
            var count = 0
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                count += 1
                let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
                if count == 1 {
                    onFirst(name)
                } else {
                    onAgain(name)
                    _exit(128 + signal)
                }
            }
        }
    }
}
