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
        // The same decision `run` makes (probe + RIVVEN_MQTT_DISABLE_IO_URING).
        let (writer, fallbackReason) = DurableFileWriters.make(preferIOURing: true)
        if let fallbackReason {
            writeStandardOutput(
                "io_uring: not used (\(fallbackReason)); the log is written with \(writer.kind)/fdatasync"
            )
        } else {
            writeStandardOutput("io_uring: usable")
        }
        writeStandardOutput("crc32c: \(CRC32C.usesHardware ? "sse4.2 instruction" : "software (slice-by-8)")")
    }
}
