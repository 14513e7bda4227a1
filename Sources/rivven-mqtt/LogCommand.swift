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

        func directory() throws -> String {
            if let dir { return dir }
            if let config {
                do {
                    return try IngestConfiguration.load(path: config).log.dir
                } catch {
                    throw CommandFailure(message: "error: \(error.description)", exitCode: 2)
                }
            }
            return LogConfiguration().dir
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
