import ArgumentParser
import FastIngest

/// `rivven-mqtt version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version, the libmosquitto and liburing versions, and whether io_uring is usable here."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        writeStandardOutput("rivven-mqtt \(FastIngest.version)")
        writeStandardOutput("libmosquitto \(FastIngest.mosquittoVersion)")
        writeStandardOutput("liburing \(URingSupport.libraryVersion)")
        if let reason = URingSupport.unavailableReason {
            writeStandardOutput("io_uring: unavailable (\(reason)); the writev/fsync fallback is used")
        } else {
            writeStandardOutput("io_uring: usable")
        }
    }
}
