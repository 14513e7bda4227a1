import ArgumentParser
import FastIngest
import Glibc

/// `rivven-mqtt log cat|stat`: read the local log.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Read the local durable log.",
        subcommands: [Cat.self, Stat.self]
    )

    /// Where the log is: `--dir`, else `log.dir` of `--config`, else ./data.
    struct Location: ParsableArguments {
        @Option(help: "The log directory (default: log.dir of --config, else ./data).")
        var dir: String?

        @Option(name: .shortAndLong, help: "Take the log directory from this configuration file.")
        var config: String?

        @Option(help: "With --config naming several MQTT sources: the source whose log to read.")
        var source: String?

        func directory() throws -> String {
            if let dir { return dir }
            guard let config else { return LogConfiguration().dir }
            let configuration: IngestConfiguration
            do {
                configuration = try IngestConfiguration.load(path: config)
            } catch {
                throw CommandFailure(message: "error: \(error.description)", exitCode: 2)
            }
            let names = configuration.sources.map(\.name)
            if let source {
                guard let chosen = configuration.sources.first(where: { $0.name == source }) else {
                    throw CommandFailure(
                        message:
                            "error: --source \(source) is not an MQTT source of \(config); expected one of \(names)",
                        exitCode: 2
                    )
                }
                return configuration.logDirectory(for: chosen)
            }
            guard configuration.sources.count == 1 else {
                throw CommandFailure(
                    message:
                        "error: \(config) has several MQTT sources, each with its own log: add --source, one of \(names)",
                    exitCode: 2
                )
            }
            return configuration.logDirectory(for: configuration.sources[0])
        }
    }

    struct Cat: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cat",
            abstract: #"Print records as JSON lines {"offset","ts","topic","qos","retain","key","value"}."#
        )

        @OptionGroup var location: Location
        @OptionGroup var global: GlobalOptions

        @Option(help: "The first offset to print.")
        var from: UInt64 = 0

        func run() throws {
            _ = global.bootstrapLogging()
            let dir = try location.directory()
            var reader: LogReader
            do {
                reader = try LogReader(directory: dir, from: from)
            } catch {
                throw CommandFailure(message: "error: cannot read the log in \(dir): \(error)", exitCode: 1)
            }
            var out: [UInt8] = []
            out.reserveCapacity(1 << 20)
            do {
                while let record = try reader.next() {
                    record.appendJSONLine(into: &out)
                    if out.count >= 1 << 20 { flush(&out) }
                }
            } catch {
                flush(&out)
                throw CommandFailure(message: "error: \(error)", exitCode: 1)
            }
            flush(&out)
        }

        private func flush(_ out: inout [UInt8]) {
            out.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(1, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    offset += n
                }
            }
            out.removeAll(keepingCapacity: true)
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stat",
            abstract: "Print the log's segments, sizes, forwarded position and oldest unforwarded record."
        )

        @OptionGroup var location: Location
        @OptionGroup var global: GlobalOptions

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            _ = global.bootstrapLogging()
            let dir = try location.directory()
            let statistics: LogStatistics
            do {
                statistics = try LogStatistics.read(dir: dir)
            } catch {
                throw CommandFailure(message: "error: cannot read the log in \(dir): \(error)", exitCode: 1)
            }
            var out: [UInt8] = []
            if json { statistics.appendJSON(into: &out) } else { statistics.appendText(into: &out) }
            writeStandardOutput(String(decoding: out, as: UTF8.self))
        }
    }
}
