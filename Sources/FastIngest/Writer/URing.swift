// One of two files that import CURing (STYLE.md convention 2); Log/CRC32C.swift uses its crc32 helper.
import CURing
import Glibc

/// The owner of one io_uring instance (liburing's `struct io_uring`): `io_uring_queue_init` in `init`,
/// `io_uring_queue_exit` in `deinit`.
///
/// Work is queued with ``enqueue(_:userData:linkNext:)``, handed to the kernel with ``submit(waitingFor:)`` and
/// collected with ``reapCompletions(_:)``; no submission or completion entry leaves this type.
///
/// Threading: one thread uses a ring at a time. Being `~Copyable`, a ring has exactly one owner; that owner must not
/// share it between threads concurrently (liburing's submission and completion queues are single-producer and
/// single-consumer).
package struct URing: ~Copyable {
    /// The largest byte count one read or write moves on Linux (`MAX_RW_COUNT`, 2 GiB minus a page); bigger
    /// transfers must be split by the caller.
    package static let maximumTransfer = 0x7FFF_F000

    // Heap-allocated so its address is stable: liburing takes `struct io_uring *` in every call, and a stored struct
    // of a `~Copyable` value may move.
    private let ring: UnsafeMutablePointer<io_uring>
    // Scratch space for `io_uring_peek_batch_cqe`, allocated once so reaping never allocates.
    private let completionBatch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private let completionBatchCapacity: UInt32

    /// The submission queue's size: how many entries fit between two ``submit(waitingFor:)`` calls.
    package let submissionQueueEntries: Int
    /// The completion queue's size (twice the submission queue's by default).
    package let completionQueueEntries: Int

    /// Sets up a ring with `entries` submission entries (rounded up to a power of two by the kernel).
    /// - Throws: `WriterError("io_uring_queue_init", errno:)`: `EPERM` under seccomp or `io_uring_disabled`,
    ///   `ENOSYS` on kernels without io_uring, `ENOMEM` when locked memory is exhausted, `EINVAL` for a bad size.
    package init(entries: UInt32) throws(WriterError) {
        precondition(entries > 0, "an io_uring needs at least one entry")
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        let rc = io_uring_queue_init(entries, ring, 0)
        guard rc == 0 else {
            ring.deinitialize(count: 1)
            ring.deallocate()
            throw WriterError("io_uring_queue_init", errno: -rc)
        }
        self.ring = ring
        self.submissionQueueEntries = Int(ring.pointee.sq.ring_entries)
        self.completionQueueEntries = Int(ring.pointee.cq.ring_entries)
        self.completionBatchCapacity = ring.pointee.cq.ring_entries
        self.completionBatch = .allocate(capacity: Int(ring.pointee.cq.ring_entries))
        self.completionBatch.initialize(repeating: nil, count: Int(ring.pointee.cq.ring_entries))
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deinitialize(count: 1)
        ring.deallocate()
        completionBatch.deinitialize(count: Int(completionBatchCapacity))
        completionBatch.deallocate()
    }

    // MARK: Submission

    /// One operation to queue. The memory it points to is lent to the kernel: it must stay valid and unchanged until
    /// the operation's completion has been reaped.
    package enum Operation {
        /// `pwrite(fd, bytes, offset)`. For a pipe or socket (no file position) pass ``URing/currentPosition``.
        /// - Precondition: `bytes.count <= URing.maximumTransfer`.
        case write(fd: Int32, bytes: UnsafeRawBufferPointer, offset: UInt64)
        /// `fdatasync(fd)` when `dataOnly`, otherwise `fsync(fd)`.
        case fsync(fd: Int32, dataOnly: Bool)
        /// `send(socket, bytes, flags)` (pass `MSG_NOSIGNAL` to get `EPIPE` instead of `SIGPIPE`).
        /// - Precondition: `bytes.count <= URing.maximumTransfer`.
        case send(socket: Int32, bytes: UnsafeRawBufferPointer, flags: Int32)
    }

    /// The offset meaning "at the file's current position" (`-1`), for files without positions (pipes, sockets).
    package static let currentPosition = UInt64.max

    /// How many more entries can be queued before the next ``submit(waitingFor:)``.
    package var submissionSpaceLeft: Int { Int(io_uring_sq_space_left(ring)) }

    /// Entries queued but not yet consumed by the kernel (they go with the next ``submit(waitingFor:)``).
    package var pendingSubmissions: Int { Int(io_uring_sq_ready(ring)) }

    /// Queues `operation` under `userData`, which its completion carries back.
    ///
    /// With `linkNext`, the entry queued next starts only after this one completed in full; if this one fails or
    /// transfers fewer bytes than asked, the next one completes with `-ECANCELED` instead of running.
    /// - Precondition: `submissionSpaceLeft > 0`: a caller sizes its batches to ``submissionQueueEntries``.
    package mutating func enqueue(_ operation: Operation, userData: UInt64, linkNext: Bool = false) {
        let sqe = nextSubmissionEntry()
        switch operation {
        case .write(let fd, let bytes, let offset):
            precondition(bytes.count <= URing.maximumTransfer, "one io_uring write moves at most MAX_RW_COUNT bytes")
            io_uring_prep_write(sqe, fd, bytes.baseAddress, UInt32(bytes.count), offset)
        case .fsync(let fd, let dataOnly):
            io_uring_prep_fsync(sqe, fd, dataOnly ? IORING_FSYNC_DATASYNC : 0)
        case .send(let socket, let bytes, let flags):
            precondition(bytes.count <= URing.maximumTransfer, "one io_uring send moves at most MAX_RW_COUNT bytes")
            io_uring_prep_send(sqe, socket, bytes.baseAddress, bytes.count, flags)
        }
        finish(sqe, userData: userData, linkNext: linkNext)
    }

    /// Queues `pwritev(fd, vectors, offset)` under `userData` (see ``enqueue(_:userData:linkNext:)``). For a pipe or
    /// socket pass ``URing/currentPosition``. `vectors` and the bytes they point to must stay valid and unchanged
    /// until the completion has been reaped.
    /// - Precondition: `submissionSpaceLeft > 0` and `vectors` is not empty.
    package mutating func enqueueWritev(
        fd: Int32,
        vectors: borrowing IOVectors,
        offset: UInt64,
        userData: UInt64,
        linkNext: Bool = false
    ) {
        precondition(vectors.count > 0, "writev of no vectors")
        let sqe = nextSubmissionEntry()
        io_uring_prep_writev(sqe, fd, vectors.storage, UInt32(vectors.count), offset)
        finish(sqe, userData: userData, linkNext: linkNext)
    }

    private func nextSubmissionEntry() -> UnsafeMutablePointer<io_uring_sqe> {
        guard let sqe = io_uring_get_sqe(ring) else {
            preconditionFailure("io_uring submission queue full (\(submissionQueueEntries) entries) before submit")
        }
        return sqe
    }

    private func finish(_ sqe: UnsafeMutablePointer<io_uring_sqe>, userData: UInt64, linkNext: Bool) {
        io_uring_sqe_set_data64(sqe, userData)
        if linkNext { CURing_sqe_set_io_link(sqe) }
    }

    /// A fixed-capacity list of byte ranges for ``URing/enqueueWritev(fd:vectors:offset:userData:linkNext:)``,
    /// allocated once and refilled per batch (the `iovec` array stays inside).
    package struct IOVectors: ~Copyable {
        fileprivate let storage: UnsafeMutablePointer<iovec>
        /// How many ranges fit.
        package let capacity: Int
        /// How many ranges are set.
        package private(set) var count = 0
        /// The sum of the ranges' sizes.
        package private(set) var byteCount = 0

        /// Creates an empty list for up to `capacity` ranges (`IOV_MAX`, 1024, at most).
        package init(capacity: Int) {
            precondition(capacity > 0 && capacity <= 1024, "writev takes 1...IOV_MAX vectors")
            self.capacity = capacity
            self.storage = .allocate(capacity: capacity)
        }

        deinit { storage.deallocate() }

        /// Adds `bytes` as the next range. The bytes are lent, not copied.
        /// - Precondition: `count < capacity`.
        package mutating func append(_ bytes: UnsafeRawBufferPointer) {
            precondition(count < capacity, "IOVectors is full")
            (storage + count).initialize(
                to: iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
            )
            count += 1
            byteCount += bytes.count
        }

        /// Empties the list, keeping its storage.
        package mutating func removeAll() {
            count = 0
            byteCount = 0
        }
    }

    /// Hands every queued entry to the kernel and, when `completions > 0`, blocks until at least that many
    /// completions are ready to reap (ones already ready count).
    ///
    /// Entries the kernel did not consume stay queued and go with the next call.
    /// - Returns: how many entries the kernel consumed.
    /// - Throws: `WriterError("io_uring_submit", errno:)` exactly as `io_uring_enter` failed, transient ones
    ///   included (`EINTR` when a signal arrived while waiting, `EAGAIN`, `EBUSY`): retrying is the caller's call.
    @discardableResult
    package mutating func submit(waitingFor completions: Int = 0) throws(WriterError) -> Int {
        precondition(
            completions >= 0 && completions <= completionQueueEntries,
            "cannot wait for more than the CQ holds"
        )
        let rc = completions > 0 ? io_uring_submit_and_wait(ring, UInt32(completions)) : io_uring_submit(ring)
        guard rc >= 0 else { throw WriterError("io_uring_submit", errno: -rc) }
        return Int(rc)
    }

    // MARK: Completion

    /// One finished operation.
    package struct Completion: Sendable, Equatable {
        /// The `userData` it was queued with.
        package var userData: UInt64
        /// The kernel's result: a byte count (or 0) on success, `-errno` on failure.
        package var result: Int32

        /// Creates a completion.
        package init(userData: UInt64, result: Int32) {
            self.userData = userData
            self.result = result
        }

        /// The result as a count, or `WriterError(operation, errno: -result)` when it is negative.
        package func value(_ operation: String) throws(WriterError) -> Int {
            guard result >= 0 else { throw WriterError(operation, errno: -result) }
            return Int(result)
        }
    }

    /// Completions ready to reap without waiting.
    package var readyCompletions: Int { Int(io_uring_cq_ready(ring)) }

    /// Passes every ready completion to `body`, in completion order, then marks them consumed. Never blocks.
    /// - Returns: how many completions were reaped.
    @discardableResult
    package mutating func reapCompletions(_ body: (Completion) -> Void) -> Int {
        // `io_uring_for_each_cqe` is a macro Swift cannot import: peek a batch, read it, advance the head once.
        var total = 0
        while true {
            let count = io_uring_peek_batch_cqe(ring, completionBatch, completionBatchCapacity)
            if count == 0 { return total }
            for index in 0..<Int(count) {
                // `io_uring_peek_batch_cqe` filled the first `count` slots.
                let cqe = completionBatch[index]!
                body(Completion(userData: cqe.pointee.user_data, result: cqe.pointee.res))
            }
            io_uring_cq_advance(ring, count)
            total += Int(count)
        }
    }

    // MARK: Probing

    /// An io_uring operation code, for probing what the running kernel supports.
    package struct Opcode: Sendable, Hashable, CustomStringConvertible {
        fileprivate var rawValue: Int32
        /// Its `IORING_OP_*` name.
        package let description: String

        /// `IORING_OP_WRITE` (Linux 5.6).
        package static let write = Opcode(rawValue: Int32(IORING_OP_WRITE.rawValue), description: "IORING_OP_WRITE")
        /// `IORING_OP_WRITEV` (Linux 5.1).
        package static let writev = Opcode(rawValue: Int32(IORING_OP_WRITEV.rawValue), description: "IORING_OP_WRITEV")
        /// `IORING_OP_FSYNC` (Linux 5.1).
        package static let fsync = Opcode(rawValue: Int32(IORING_OP_FSYNC.rawValue), description: "IORING_OP_FSYNC")
        /// `IORING_OP_SEND` (Linux 5.6).
        package static let send = Opcode(rawValue: Int32(IORING_OP_SEND.rawValue), description: "IORING_OP_SEND")
    }

    /// Why this ring cannot run all of `opcodes`, or `nil` when the kernel reports every one as supported.
    /// Allocates (the kernel's probe table); meant for start-up.
    package func unsupportedReason(requiring opcodes: [Opcode]) -> String? {
        guard let probe = io_uring_get_probe_ring(ring) else {
            // IORING_REGISTER_PROBE arrived in Linux 5.6, together with IORING_OP_WRITE.
            return "io_uring_get_probe_ring failed (kernel older than 5.6)"
        }
        defer { io_uring_free_probe(probe) }
        let missing = opcodes.filter { io_uring_opcode_supported(probe, $0.rawValue) == 0 }
        guard !missing.isEmpty else { return nil }
        return "io_uring does not support \(missing.map(\.description).joined(separator: ", ")) on this kernel"
    }
}

/// Facts about io_uring on this machine.
public enum URingSupport {
    /// Why the io_uring writer cannot run here (`io_uring_queue_init` fails, or an opcode it needs is missing), or
    /// `nil` when it can. Probed once, on first use; ``currentUnavailableReason(entries:)`` probes again.
    public static let unavailableReason: String? = currentUnavailableReason()

    /// Probes now (uncached): sets up a ring of `entries` and checks the opcodes ``URingFileWriter`` needs.
    package static func currentUnavailableReason(entries: UInt32 = 8) -> String? {
        do {
            let ring = try URing(entries: entries)
            return ring.unsupportedReason(requiring: URingFileWriter.requiredOpcodes)
        } catch {
            return error.description
        }
    }

    /// The linked liburing version, read from the mapped shared object's file name (liburing 2.3 has no version
    /// call): `/usr/lib/x86_64-linux-gnu/liburing.so.2.3` → `2.3`.
    public static var libraryVersion: String {
        guard let maps = readSmallFile("/proc/self/maps") else { return "unknown" }
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/"), line.contains("liburing.so") else { continue }
            let path = String(line[slash...])
            guard let resolved = realpath(path, nil) else { continue }
            defer { free(resolved) }
            let file = String(cString: resolved).split(separator: "/").last.map(String.init) ?? ""
            let prefix = "liburing.so."
            if file.hasPrefix(prefix) { return String(file.dropFirst(prefix.count)) }
        }
        return "unknown"
    }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
