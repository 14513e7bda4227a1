import FastIngest
import Glibc
import Testing

extension WriterTests {
    /// The ring owner itself: preparation helpers, linking, reaping, and resource release.
    @Suite(.enabled(if: WriterGate.uringAvailable, "io_uring unavailable")) struct URingTests {
        @Test func initMapsTheKernelErrno() {
            do {
                _ = try URing(entries: 1 << 20)
                Issue.record("a ring of 2^20 entries was set up")
            } catch {
                #expect(error.operation == "io_uring_queue_init")
                #expect(error.errno == EINVAL)
            }
        }

        @Test func sizesAreTheKernels() throws {
            let ring = try URing(entries: 5)
            #expect(ring.submissionQueueEntries == 8)
            #expect(ring.completionQueueEntries == 16)
            #expect(ring.submissionSpaceLeft == 8)
            #expect(ring.unsupportedReason(requiring: [.write, .writev, .fsync, .send]) == nil)
        }

        @Test func writevThenLinkedFsync() throws {
            let file = try TemporaryFile()
            var ring = try URing(entries: 4)
            let parts: [[UInt8]] = [Array("hello ".utf8), Array("io_".utf8), Array("uring".utf8)]
            var vectors = URing.IOVectors(capacity: 4)
            var completions: [URing.Completion] = []
            try parts[0].withUnsafeBytes { a in
                try parts[1].withUnsafeBytes { b in
                    try parts[2].withUnsafeBytes { c in
                        vectors.append(a)
                        vectors.append(b)
                        vectors.append(c)
                        #expect(vectors.byteCount == 14)
                        ring.enqueueWritev(fd: file.fd, vectors: vectors, offset: 2, userData: 10, linkNext: true)
                        ring.enqueue(.fsync(fd: file.fd, dataOnly: false), userData: 11)
                        #expect(ring.submissionSpaceLeft == 2)
                        let submitted = try ring.submit(waitingFor: 2)
                        #expect(submitted == 2)
                        ring.reapCompletions { completions.append($0) }
                    }
                }
            }
            #expect(completions == [.init(userData: 10, result: 14), .init(userData: 11, result: 0)])
            #expect(ring.readyCompletions == 0)
            #expect(try file.contents() == [0, 0] + Array("hello io_uring".utf8))
            vectors.removeAll()
            #expect(vectors.count == 0 && vectors.byteCount == 0)
        }

        @Test func failedLinkHeadCancelsTheRest() throws {
            var ring = try URing(entries: 4)
            var completions: [URing.Completion] = []
            try [UInt8](repeating: 0, count: 8).withUnsafeBytes { bytes in
                ring.enqueue(.write(fd: -1, bytes: bytes, offset: 0), userData: 1, linkNext: true)
                ring.enqueue(.fsync(fd: -1, dataOnly: true), userData: 2)
                try ring.submit(waitingFor: 2)
                ring.reapCompletions { completions.append($0) }
            }
            #expect(completions == [.init(userData: 1, result: -EBADF), .init(userData: 2, result: -ECANCELED)])
            let writeError = writerError { _ = try completions[0].value("write") }
            #expect(writeError?.operation == "write" && writeError?.errno == EBADF)
            let syncError = writerError { _ = try completions[1].value("fdatasync") }
            #expect(syncError?.operation == "fdatasync" && syncError?.errno == ECANCELED)
            #expect(try URing.Completion(userData: 0, result: 42).value("write") == 42)
        }

        @Test func sendOverASocket() throws {
            var pair: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
            defer {
                close(pair[0])
                close(pair[1])
            }
            var ring = try URing(entries: 2)
            var results: [Int32] = []
            let message = Array("to the sink".utf8)
            try message.withUnsafeBytes { bytes in
                ring.enqueue(.send(socket: pair[0], bytes: bytes, flags: Int32(MSG_NOSIGNAL)), userData: 1)
                try ring.submit(waitingFor: 1)
                ring.reapCompletions { results.append($0.result) }
            }
            #expect(results == [Int32(message.count)])
            var received = [UInt8](repeating: 0, count: 64)
            let n = received.withUnsafeMutableBytes { recv(pair[1], $0.baseAddress, $0.count, 0) }
            #expect(Array(received[0..<max(n, 0)]) == message)

            // A closed peer: EPIPE, not SIGPIPE.
            close(pair[1])
            pair[1] = -1
            results = []
            try message.withUnsafeBytes { bytes in
                ring.enqueue(.send(socket: pair[0], bytes: bytes, flags: Int32(MSG_NOSIGNAL)), userData: 2)
                try ring.submit(waitingFor: 1)
                ring.reapCompletions { results.append($0.result) }
            }
            #expect(results == [-EPIPE])
        }

        @Test func writevToASocketAtTheCurrentPosition() throws {
            var pair: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
            defer {
                close(pair[0])
                close(pair[1])
            }
            var ring = try URing(entries: 2)
            var vectors = URing.IOVectors(capacity: 2)
            var results: [Int32] = []
            try [UInt8]([1, 2]).withUnsafeBytes { a in
                try [UInt8]([3]).withUnsafeBytes { b in
                    vectors.append(a)
                    vectors.append(b)
                    ring.enqueueWritev(fd: pair[0], vectors: vectors, offset: URing.currentPosition, userData: 1)
                    try ring.submit(waitingFor: 1)
                    ring.reapCompletions { results.append($0.result) }
                }
            }
            #expect(results == [3])
            var received = [UInt8](repeating: 0, count: 8)
            let n = received.withUnsafeMutableBytes { recv(pair[1], $0.baseAddress, $0.count, 0) }
            #expect(Array(received[0..<max(n, 0)]) == [1, 2, 3])
        }

        @Test func reapingDrainsMoreThanOneBatchAndDoesNotWait() throws {
            var ring = try URing(entries: 8)
            var reaped = 0
            #expect(ring.reapCompletions { _ in reaped += 1 } == 0)
            // 3 rounds of 8 no-op fsyncs on /dev/null: 24 completions in a 16-entry CQ would overflow unless reaped
            // each round.
            let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
            defer { close(fd) }
            for round in 0..<3 {
                for index in 0..<8 {
                    ring.enqueue(.fsync(fd: fd, dataOnly: true), userData: UInt64(round * 8 + index))
                }
                #expect(ring.submissionSpaceLeft == 0)
                try ring.submit(waitingFor: 8)
                #expect(ring.readyCompletions == 8)
                reaped += ring.reapCompletions { _ in }
                #expect(ring.readyCompletions == 0)
            }
            #expect(reaped == 24)
        }

        /// Each ring holds a descriptor and locked memory; dropping it (deinit → io_uring_queue_exit) returns both.
        @Test func droppedRingsReleaseTheirDescriptors() throws {
            func openDescriptors() -> Int {
                guard let dir = opendir("/proc/self/fd") else { return -1 }
                defer { closedir(dir) }
                var count = 0
                while readdir(dir) != nil { count += 1 }
                return count
            }
            let before = openDescriptors()
            for _ in 0..<2000 {
                let ring = try URing(entries: 8)
                _ = ring.submissionQueueEntries
            }
            for _ in 0..<500 {
                _ = try URingFileWriter(queueDepth: 8)
            }
            // Other tests open files in parallel; a leak would add 2500.
            #expect(openDescriptors() - before < 200)
        }
    }
}
