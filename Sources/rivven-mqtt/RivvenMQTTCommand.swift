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
        subcommands: [RunCommand.self, CheckCommand.self, DiscoverCommand.self, VersionCommand.self]
    )

    /// Exit codes of SPEC §2: usage and configuration errors are 2, runtime failures 1.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch let error as CommandFailure {
            writeStandardError(error.message)
            exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                exit(0)
            }
            writeStandardError(fullMessage(for: error))
            if !fullMessage(for: error).contains("Usage:") {
                writeStandardError("Usage: rivven-mqtt <subcommand> --config FILE; see rivven-mqtt --help")
            }
            exit(code == .failure ? 1 : 2)
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
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.withCString { fputs($0, stderr) }
}

/// Writes to stdout and flushes, so a supervisor or a pipe sees it at once.
func writeStandardOutput(_ text: String) {
    print(text)
    fflush(nil)
}
