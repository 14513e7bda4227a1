import FastIngest
import Glibc
import Testing

extension WriterTests {
    /// Each check runs once per writer: the pwrite test always, the io_uring one only where io_uring works (it shows as
    /// skipped elsewhere).
    @Suite struct FileWriterErrorTests {
        static let uring = ConditionTrait.enabled(if: WriterGate.uringAvailable, "io_uring unavailable")

        static func pwrite() -> (writer: any DurableFileWriter, writeOperation: String) {
            (PWriteFileWriter(), "pwrite")
        }
        static func uringWriter() throws -> (writer: any DurableFileWriter, writeOperation: String) {
            (try URingFileWriter(), "write")
        }

        /// A descriptor number that was open and is closed now. High, so that no other test (they run in parallel, and
        /// the kernel hands out the lowest free number) gets it before the write: a reused number would be some other
        /// file.
        static func closedDescriptor() throws -> Int32 {
            var limit = rlimit()
            try #require(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
            let high = Int32(min(limit.rlim_cur, 65_536) - 1)
            let file = try TemporaryFile()
            try #require(dup2(file.fd, high) == high)
            close(high)
            return high
        }

        @Test(arguments: [false, true]) func pwriteBadDescriptorThrowsEBADF(sync: Bool) throws {
            try checkBadDescriptor(Self.pwrite(), sync: sync)
        }

        @Test(Self.uring, arguments: [false, true]) func uringBadDescriptorThrowsEBADF(sync: Bool) throws {
            try checkBadDescriptor(Self.uringWriter(), sync: sync)
        }

        func checkBadDescriptor(_ subject: (writer: any DurableFileWriter, writeOperation: String), sync: Bool) throws {
            let writer = subject.writer
            for fd in [-1, try Self.closedDescriptor()] {
                let error = writerError {
                    try [UInt8](repeating: 1, count: 100).withUnsafeBytes { bytes in
                        try writer.write(bytes, to: fd, at: 0, sync: sync)
                    }
                }
                #expect(error?.errno == EBADF, "fd \(fd)")
                #expect(error?.operation == subject.writeOperation, "fd \(fd)")
                let syncError = writerError { try writer.sync(fd) }
                #expect(syncError?.errno == EBADF, "fd \(fd)")
                #expect(syncError?.operation == "fdatasync", "fd \(fd)")
            }
            // The writer is still usable afterwards.
            let file = try TemporaryFile()
            try [UInt8]([1, 2, 3]).withUnsafeBytes { bytes in
                try writer.write(bytes, to: file.fd, at: 0, sync: true)
            }
            #expect(try file.contents() == [1, 2, 3])
        }

        /// io_uring would read offset -1 as "the current position"; both writers refuse it as pwrite does.
        @Test func negativeOffsetThrowsEINVAL() throws {
            var subjects = [Self.pwrite()]
            if WriterGate.uringAvailable { subjects.append(try Self.uringWriter()) }
            let file = try TemporaryFile()
            for subject in subjects {
                let error = writerError {
                    try [UInt8]([1]).withUnsafeBytes { bytes in
                        try subject.writer.write(bytes, to: file.fd, at: -1, sync: false)
                    }
                }
                #expect(error?.errno == EINVAL, "\(subject.writer.kind)")
                #expect(error?.operation == subject.writeOperation, "\(subject.writer.kind)")
            }
            #expect(try file.contents().isEmpty)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"))
        func failedWriteCancelsItsLinkedSyncAndReportsTheWriteError() throws {
            let writer = try URingFileWriter()
            let error = writerError {
                try [UInt8](repeating: 1, count: 10).withUnsafeBytes { bytes in
                    try writer.write(bytes, to: -1, at: 0, sync: true)
                }
            }
            #expect(error?.operation == "write")
            #expect(error?.errno == EBADF)
            // Both the write and the cancelled fdatasync were reaped.
            #expect(writer.statistics.completions == 2)
            #expect(writer.readyCompletions == 0)
            #expect(writer.pendingSubmissions == 0)
        }

        @Test func pwriteReadOnlyDescriptorThrowsEBADF() throws { try checkReadOnly(Self.pwrite()) }

        @Test(Self.uring) func uringReadOnlyDescriptorThrowsEBADF() throws { try checkReadOnly(Self.uringWriter()) }

        func checkReadOnly(_ subject: (writer: any DurableFileWriter, writeOperation: String)) throws {
            let writer = subject.writer
            let file = try TemporaryFile(flags: O_RDONLY)
            for sync in [false, true] {
                let error = writerError {
                    try [UInt8](repeating: 1, count: 4096).withUnsafeBytes { bytes in
                        try writer.write(bytes, to: file.fd, at: 0, sync: sync)
                    }
                }
                #expect(error?.errno == EBADF)
                #expect(error?.operation == subject.writeOperation)
            }
            #expect(try file.contents().isEmpty)
        }

        /// `/dev/full` answers every write with a real `ENOSPC` from the kernel.
        @Test(arguments: [false, true]) func pwriteFullDeviceThrowsENOSPC(sync: Bool) throws {
            try checkFullDevice(Self.pwrite(), sync: sync)
        }

        @Test(Self.uring, arguments: [false, true]) func uringFullDeviceThrowsENOSPC(sync: Bool) throws {
            try checkFullDevice(Self.uringWriter(), sync: sync)
        }

        func checkFullDevice(_ subject: (writer: any DurableFileWriter, writeOperation: String), sync: Bool) throws {
            let writer = subject.writer
            let fd = open("/dev/full", O_WRONLY | O_CLOEXEC)
            try #require(fd >= 0, "/dev/full: \(String(cString: strerror(errno)))")
            defer { close(fd) }
            let error = writerError {
                try [UInt8](repeating: 1, count: 4096).withUnsafeBytes { bytes in
                    try writer.write(bytes, to: fd, at: 0, sync: sync)
                }
            }
            #expect(error?.errno == ENOSPC)
            #expect(error?.isDiskFull == true)
            #expect(error?.operation == subject.writeOperation)
        }

        /// A filesystem that really fills up: the write stops short at the last free block, the rest fails with
        /// ENOSPC, and what fitted is in the file. Serialized: both tests fill the same tmpfs.
        @Suite(
            .serialized,
            .enabled(
                if: WriterGate.tinyTmpfs != nil,
                "no tiny tmpfs: set RIVVEN_MQTT_TEST_TINY_TMPFS to a tmpfs of at most 64 MiB (mount -t tmpfs -o size=1m tmpfs DIR)"
            )
        )
        struct TinyTmpfs {
            @Test func pwriteFillsATinyTmpfs() throws { try check(FileWriterErrorTests.pwrite(), name: "pwrite") }

            @Test(FileWriterErrorTests.uring) func uringFillsATinyTmpfs() throws {
                try check(FileWriterErrorTests.uringWriter(), name: "uring")
            }

            func check(_ subject: (writer: any DurableFileWriter, writeOperation: String), name: String) throws {
                let writer = subject.writer
                let directory = try #require(WriterGate.tinyTmpfs)
                var fs = statvfs()
                try #require(statvfs(directory, &fs) == 0)
                let capacity = Int(fs.f_blocks) * Int(fs.f_frsize)
                try #require(fs.f_bfree * 10 >= fs.f_blocks * 9, "\(directory) is not empty")
                let path = "\(directory)/\(name)-\(getpid())"
                let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                try #require(fd >= 0)
                defer {
                    close(fd)
                    unlink(path)
                }
                let bytes = patternBytes(count: capacity + (1 << 20), seed: 5)
                let error = writerError {
                    try bytes.withUnsafeBytes { buffer in
                        try writer.write(buffer, to: fd, at: 0, sync: true)
                    }
                }
                #expect(error?.errno == ENOSPC)
                #expect(error?.isDiskFull == true)
                #expect(error?.operation == subject.writeOperation)
                let written = try readFile(path)
                #expect(written.count > capacity / 2)
                #expect(mismatch(written, bytes[..<written.count]) == nil)
                if let uring = writer as? URingFileWriter {
                    #expect(uring.statistics.shortWrites >= 1)
                    #expect(uring.readyCompletions == 0)
                }
            }
        }
    }
}
