import FastIngest
import Glibc
import Testing

extension WriterTests {
    // Serialized: one test changes the process environment.
    @Suite(.serialized) struct DurableFileWritersTests {
        @Test func environmentVariableForcesTheFallback() throws {
            let name = DurableFileWriters.disableVariable
            #expect(name == "RIVVEN_MQTT_DISABLE_IO_URING")
            let previous = getenv(name).map { String(cString: $0) }
            setenv(name, "1", 1)
            defer {
                if let previous { setenv(name, previous, 1) } else { unsetenv(name) }
            }
            let (writer, reason) = DurableFileWriters.make(preferIOURing: true)
            #expect(writer is PWriteFileWriter)
            #expect(writer.kind == "pwrite")
            #expect(reason == "disabled by RIVVEN_MQTT_DISABLE_IO_URING=1")

            // Not cached: unsetting it brings io_uring back where it works.
            unsetenv(name)
            let (again, againReason) = DurableFileWriters.make(preferIOURing: true)
            if let unavailable = URingSupport.unavailableReason {
                #expect(again.kind == "pwrite")
                #expect(againReason == unavailable)
            } else {
                #expect(again.kind == "io_uring")
                #expect(againReason == nil)
            }
        }

        @Test(arguments: ["1", "yes", "true"]) func anyOtherValueDisables(value: String) {
            let (writer, reason) = DurableFileWriters.make(preferIOURing: true) { name in
                name == DurableFileWriters.disableVariable ? value : nil
            }
            #expect(writer.kind == "pwrite")
            #expect(reason == "disabled by RIVVEN_MQTT_DISABLE_IO_URING=\(value)")
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"), arguments: [nil, "", "0"])
        func unsetEmptyOrZeroKeepsIOURing(value: String?) throws {
            let (writer, reason) = DurableFileWriters.make(preferIOURing: true) { _ in value }
            #expect(writer is URingFileWriter)
            #expect(writer.kind == "io_uring")
            #expect(reason == nil)
            // The probed ring serves the writer.
            let file = try TemporaryFile()
            try [UInt8]([9, 8, 7]).withUnsafeBytes { bytes in
                try writer.write(bytes, to: file.fd, at: 1, sync: true)
            }
            #expect(try file.contents() == [0, 9, 8, 7])
        }

        @Test func configurationCanDeclineIOURing() {
            let (writer, reason) = DurableFileWriters.make(preferIOURing: false) { _ in nil }
            #expect(writer.kind == "pwrite")
            #expect(reason == "io_uring disabled by configuration")
        }

        /// A real `io_uring_queue_init` failure (the kernel refuses more than 32768 entries) takes the fallback path
        /// with the kernel's reason.
        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"))
        func queueInitFailureFallsBackWithItsReason() {
            let (writer, reason) = DurableFileWriters.make(preferIOURing: true, queueDepth: 1 << 20) { _ in nil }
            #expect(writer.kind == "pwrite")
            #expect(reason == "io_uring_queue_init failed: Invalid argument (errno 22)")
        }

        @Test func probeIsRepeatableAndAgreesWithTheCachedOne() {
            #expect(URingSupport.currentUnavailableReason() == URingSupport.unavailableReason)
            #expect(URingSupport.currentUnavailableReason() == URingSupport.unavailableReason)
        }
    }
}
