import FastIngest
import Glibc
import Testing

extension WriterTests {
    @Suite struct FileWriterRoundTripTests {
        @Test func pwriteWriterWritesTheSequence() throws {
            let file = try TemporaryFile()
            let (steps, image) = writeSequence()
            try run(steps, through: PWriteFileWriter(), into: file.fd)
            #expect(mismatch(try file.contents(), image) == nil)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"))
        func uringWriterWritesTheSequence() throws {
            let file = try TemporaryFile()
            let (steps, image) = writeSequence()
            let writer = try URingFileWriter()
            #expect(writer.kind == "io_uring")
            try run(steps, through: writer, into: file.fd)
            #expect(mismatch(try file.contents(), image) == nil)
            // One completion per write, two per synced write (the write and its linked fdatasync): the sync really ran
            // through the ring, and nothing is left queued or unreaped.
            let expected = steps.reduce(0) { $0 + ($1.sync ? 2 : 1) }
            #expect(writer.statistics.completions == UInt64(expected))
            #expect(writer.statistics.shortWrites == 0)
            #expect(writer.readyCompletions == 0)
            #expect(writer.pendingSubmissions == 0)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"), arguments: [false, true])
        func bothWritersProduceIdenticalFiles(sync: Bool) throws {
            let viaPWrite = try TemporaryFile()
            let viaURing = try TemporaryFile()
            var (steps, _) = writeSequence()
            for index in steps.indices { steps[index].sync = sync }
            try run(steps, through: PWriteFileWriter(), into: viaPWrite.fd)
            try run(steps, through: URingFileWriter(), into: viaURing.fd)
            let expected = try viaPWrite.contents()
            #expect(expected.count == 3 * (1 << 20) + 2 * (1 << 20) + 1 + 4096 + 1 + 123 + 4095 + 70_000 + 4097 + 7)
            #expect(mismatch(try viaURing.contents(), expected) == nil)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"), arguments: [1, 4096, 1 << 20, 3 << 20])
        func singleBatchAtAnOffset(size: Int) throws {
            let file = try TemporaryFile()
            let writer = try URingFileWriter()
            let bytes = patternBytes(count: size, seed: UInt64(size))
            try bytes.withUnsafeBytes { buffer in
                try writer.write(buffer, to: file.fd, at: 10, sync: true)
            }
            #expect(mismatch(try file.contents(), [UInt8](repeating: 0, count: 10) + bytes) == nil)
            #expect(writer.statistics.completions == 2)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"), arguments: [false, true])
        func writesLargerThanOneTransferAreSplitAndSyncedOnce(sync: Bool) throws {
            let file = try TemporaryFile()
            let writer = URingFileWriter(ring: try URing(entries: 4), maximumTransfer: 4096)
            let bytes = patternBytes(count: (1 << 20) + 3, seed: 7)
            try bytes.withUnsafeBytes { buffer in
                try writer.write(buffer, to: file.fd, at: 0, sync: sync)
            }
            #expect(mismatch(try file.contents(), bytes) == nil)
            // 257 write SQEs; the fdatasync is linked to the last one only.
            #expect(writer.statistics.completions == 257 + (sync ? 1 : 0))
            #expect(writer.readyCompletions == 0)
        }

        @Test(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable"))
        func emptySyncedWriteOnlySyncs() throws {
            let file = try TemporaryFile()
            let writer = try URingFileWriter()
            try writer.write(UnsafeRawBufferPointer(start: nil, count: 0), to: file.fd, at: 0, sync: true)
            #expect(writer.statistics.completions == 1)
            try writer.write(UnsafeRawBufferPointer(start: nil, count: 0), to: file.fd, at: 0, sync: false)
            #expect(writer.statistics.completions == 1)
            try writer.sync(file.fd)
            #expect(writer.statistics.completions == 2)
            #expect(try file.contents().isEmpty)
        }
    }
}
