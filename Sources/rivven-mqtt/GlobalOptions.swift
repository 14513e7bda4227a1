public import ArgumentParser
import FastIngest
public import Logging

/// Options every subcommand accepts (SPEC §2).
struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format: text or json (one JSON object per line).")
    var logFormat: LogFormat = .text

    /// Installs the stderr log handler once per process.
    func bootstrapLogging() -> Logger {
        let level = logLevel
        let format = logFormat
        LoggingSystem.bootstrap { label in
            var handler = StderrLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "rivven-mqtt")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.lowercased())
    }
    public static var allValueStrings: [String] { allCases.map(\.rawValue).filter { $0 != "critical" } }
}

/// How log lines are printed.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Options naming the configuration file.
struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file (connector or rivven-connect shape).")
    var config: String

    /// Loads and validates the file; every problem is reported at once and the command exits 2.
    func load() throws -> IngestConfiguration {
        do {
            return try IngestConfiguration.load(path: config)
        } catch {
            throw CommandFailure(message: "error: \(error.description)", exitCode: 2)
        }
    }
}
