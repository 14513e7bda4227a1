import ArgumentParser
import FastIngest
import Glibc

/// `rivven-mqtt`: MQTT → Rivven ingest gateway (SPEC §2).
@main
struct RivvenMQTTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rivven-mqtt",
        abstract: "Subscribe to MQTT topics and write every message, batched, to Rivven or a local durable log.",
        version: FastIngest.version,
        subcommands: [
            RunCommand.self, CheckCommand.self, DiscoverCommand.self, BenchCommand.self, LogCommand.self,
            VersionCommand.self, TestServerCommand.self,
        ]
    )

    /// Exit codes of SPEC §2: usage and configuration errors are 2, runtime failures 1.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ExitCode {
            Glibc.exit(error.rawValue)
        } catch let error as CommandFailure {
            writeStandardError(error.message)
            Glibc.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            writeStandardError(fullMessage(for: error))
            if !fullMessage(for: error).contains("Usage:") {
                writeStandardError("Usage: rivven-mqtt <subcommand> --config FILE; see rivven-mqtt --help")
            }
            Glibc.exit(code == .failure ? 1 : 2)
        }
    }
}

/// A failure a subcommand reports with its exit code (SPEC §2).
struct CommandFailure: Error {
    var message: String
    var exitCode: Int32
}

/// Writes one line to stderr, unbuffered.
func writeStandardError(_ text: String) {
    var line = Array(text.utf8)
    if line.last != UInt8(ascii: "\n") { line.append(UInt8(ascii: "\n")) }
    // One write(2) per line: unbuffered, and lines from different threads never interleave.
    line.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(2, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}

/// Writes to stdout and flushes, so a supervisor or a pipe sees it at once.
func writeStandardOutput(_ text: String) {
    print(text)
    fflush(nil)
}
