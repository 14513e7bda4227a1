import ArgumentParser
import FastIngest
import Glibc
import Logging

/// `rivven-mqtt run`: the pipeline until SIGINT/SIGTERM.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline until SIGINT/SIGTERM, then drain, acknowledge, DISCONNECT and exit 0.",
        discussion: ConfigurationDefaultsHelp.discussion
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
        SignalWatcher.start(logger: logger) { pipeline.stop() }
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
        do {
            try pipeline.run()
        } catch {
            throw CommandFailure(message: "error: \(error.message)", exitCode: 1)
        }
    }
}

/// SIGINT/SIGTERM handling: the first signal asks for a graceful stop, a second one exits at once.
enum SignalWatcher {
    /// Blocks the signals in every thread (call before starting any) and waits for them on a thread of its own.
    static func start(logger: Logger, onFirst: @escaping @Sendable () -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        _ = DriverThread(name: "signals") {
            var set = watched
            var count = 0
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                count += 1
                let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
                if count == 1 {
                    logger.notice("\(name) received: stopping gracefully (send again to exit at once)")
                    onFirst()
                } else {
                    logger.warning("\(name) received again: exiting at once")
                    _exit(128 + signal)
                }
            }
        }
    }
}
