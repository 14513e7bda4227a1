import FastIngest
import Glibc
import Synchronization
import Testing

extension WriterTests {
    @Suite(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable")) struct URingFileWriterStressTests {
        /// 10 000 synced writes through an 8-entry ring (16 CQEs): any entry not reaped or not submitted would exhaust
        /// the ring within a few calls; after every call nothing is left queued or unreaped.
        @Test func tenThousandSmallSyncedWritesLeaveTheRingEmpty() throws {
            let file = try TemporaryFile(memory: true)
            let writer = try URingFileWriter(queueDepth: 8)
            let count = 10_000
            var expected: [UInt8] = []
            expected.reserveCapacity(count * 7)
            var notDrained = 0
            for index in 0..<count {
                let record = patternBytes(count: 7, seed: UInt64(index))
                expected.append(contentsOf: record)
                try record.withUnsafeBytes { bytes in
                    try writer.write(bytes, to: file.fd, at: Int64(index * 7), sync: true)
                }
                if writer.readyCompletions != 0 || writer.pendingSubmissions != 0 { notDrained += 1 }
            }
            #expect(notDrained == 0)
            #expect(writer.statistics.completions == UInt64(2 * count))
            #expect(mismatch(try file.contents(), expected) == nil)
        }

        /// Signals aimed at the writer thread (a handler without SA_RESTART) make `io_uring_enter` fail with EINTR while
        /// it waits for the write and its fdatasync; the writer resumes the wait and every byte still lands.
        @Test func interruptedWaitsAreResumed() throws {
            // A no-op handler without SA_RESTART. Left installed: restoring SIG_DFL (terminate) could kill the test
            // process if a signal were still in flight; a no-op handler is harmless.
            var action = sigaction()
            action.__sigaction_handler = .init(sa_handler: { _ in })
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            try #require(sigaction(SIGUSR2, &action, nil) == 0)

            // On disk, not tmpfs, so fdatasync takes long enough to be interrupted.
            let file = try TemporaryFile()
            let fd = file.fd
            let chunk = 64 << 10
            let template = patternBytes(count: chunk, seed: 1)

            final class Shared: Sendable {
                let ready = Atomic<Bool>(false)
                let done = Atomic<Bool>(false)
                let outcome = Mutex<(written: Int, statistics: URingFileWriter.Statistics?, error: String?)>(
                    (0, nil, nil)
                )
            }
            let shared = Shared()
            let writerThread = TestThread {
                var unblock = sigset_t()
                sigemptyset(&unblock)
                sigaddset(&unblock, SIGUSR2)
                pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
                defer { shared.done.store(true, ordering: .releasing) }
                let writer: URingFileWriter
                do {
                    writer = try URingFileWriter()
                } catch {
                    shared.outcome.withLock { $0.error = "\(error)" }
                    return
                }
                shared.ready.store(true, ordering: .releasing)
                var start = timespec()
                clock_gettime(CLOCK_MONOTONIC, &start)
                var written = 0
                while written < 3000 && writer.statistics.interruptedWaits < 50 {
                    var now = timespec()
                    clock_gettime(CLOCK_MONOTONIC, &now)
                    if now.tv_sec - start.tv_sec > 20 { break }
                    var record = template
                    withUnsafeBytes(of: UInt64(written).littleEndian) { record.replaceSubrange(0..<8, with: $0) }
                    do {
                        try record.withUnsafeBytes { bytes in
                            try writer.write(bytes, to: fd, at: Int64(written * chunk), sync: true)
                        }
                    } catch {
                        shared.outcome.withLock { $0.error = "\(error)" }
                        break
                    }
                    written += 1
                }
                shared.outcome.withLock { $0 = (written, writer.statistics, $0.error) }
            }
            let writerID = writerThread.id
            let signaller = TestThread {
                while !shared.ready.load(ordering: .acquiring) && !shared.done.load(ordering: .acquiring) {
                    sched_yield()
                }
                while !shared.done.load(ordering: .acquiring) {
                    pthread_kill(writerID, SIGUSR2)
                    usleep(100)
                }
            }
            // The signaller stops before the writer thread is joined, so no signal targets a finished thread.
            signaller.join()
            writerThread.join()

            let outcome = shared.outcome.withLock { $0 }
            #expect(outcome.error == nil)
            let statistics = try #require(outcome.statistics)
            #expect(statistics.interruptedWaits > 0, "no wait was interrupted in \(outcome.written) writes")
            #expect(statistics.completions == UInt64(2 * outcome.written))

            let contents = try file.contents()
            #expect(contents.count == outcome.written * chunk)
            var mismatches = 0
            for index in 0..<min(outcome.written, contents.count / chunk) {
                var record = template
                withUnsafeBytes(of: UInt64(index).littleEndian) { record.replaceSubrange(0..<8, with: $0) }
                if contents[(index * chunk)..<((index + 1) * chunk)].elementsEqual(record) == false { mismatches += 1 }
            }
            #expect(mismatches == 0)
        }

        /// A pipe takes at most its capacity per write, so the kernel completes a big write short; the writer submits
        /// the rest until all of it went through.
        @Test func shortWritesAreResubmitted() throws {
            var ends: [Int32] = [-1, -1]
            try #require(pipe(&ends) == 0)
            let (readEnd, writeEnd) = (ends[0], ends[1])
            defer { close(readEnd) }
            // F_SETPIPE_SZ (1031, a GNU extension Glibc does not import): one page, so 1 MiB cannot go in one write.
            #expect(fcntl(writeEnd, 1031, 4096) >= 4096)
            let received = Mutex<[UInt8]>([])
            let reader = TestThread {
                var buffer = [UInt8](repeating: 0, count: 3000)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    received.withLock { $0.append(contentsOf: buffer[0..<n]) }
                }
            }
            let writer = try URingFileWriter()
            let bytes = patternBytes(count: 1 << 20, seed: 2)
            let error = writerError {
                try bytes.withUnsafeBytes { buffer in
                    try writer.write(buffer, to: writeEnd, at: 0, sync: false)
                }
            }
            close(writeEnd)
            reader.join()
            #expect(error == nil)
            #expect(mismatch(received.withLock { $0 }, bytes) == nil)
            #expect(writer.statistics.shortWrites > 0)
            #expect(writer.statistics.completions == writer.statistics.shortWrites + 1)
            #expect(writer.readyCompletions == 0)
        }
    }
}
