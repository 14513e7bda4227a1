import Glibc

/// The io_uring writer: a batch is one submission of a write linked to an `fdatasync`, and one wait for both
/// completions (one `io_uring_enter` where `pwrite` + `fdatasync` make two system calls).
///
/// Threading: **one thread only.** The writer owns one ``URing`` and calls must not overlap; it is not `Sendable`.
/// Every call leaves the ring empty (nothing queued, nothing to reap), so calls are independent.
///
/// Allocation: none per call on the success path, by construction (errors build a `WriterError`); not yet guarded
/// by an allocation benchmark.
///
/// If `io_uring_enter` itself fails with anything but `EINTR`, `EAGAIN` or `EBUSY` (a broken ring, not an I/O
/// error), the writer becomes unusable and every later call throws that same error; the owner then drops it (and may
/// switch to ``PWriteFileWriter``).
package final class URingFileWriter: DurableFileWriter {
    package let kind = "io_uring"

    /// The opcodes this writer uses; ``DurableFileWriters`` and ``URingSupport`` check them before choosing it.
    package static let requiredOpcodes: [URing.Opcode] = [.write, .fsync]

    /// Counters for tests and metrics (not synchronised: read them on the writer thread).
    package struct Statistics: Sendable, Equatable {
        /// `io_uring_enter` calls that succeeded.
        package var submits: UInt64 = 0
        /// Completions reaped.
        package var completions: UInt64 = 0
        /// Writes the kernel completed only in part (the rest was submitted again).
        package var shortWrites: UInt64 = 0
        /// Waits interrupted by a signal (`EINTR`) and resumed.
        package var interruptedWaits: UInt64 = 0
        /// Submissions retried after `EAGAIN` or `EBUSY`.
        package var busyRetries: UInt64 = 0
    }

    /// What the writer has done so far.
    package private(set) var statistics = Statistics()

    private var ring: URing
    private let maximumTransfer: Int
    private var brokenBy: WriterError?

    // Two operations at most are in flight, told apart by their user data.
    private static let writeTag: UInt64 = 1
    private static let fsyncTag: UInt64 = 2
    // Consecutive EAGAIN/EBUSY answers tolerated before giving up on a submission.
    private static let busyRetryLimit = 1000

    /// Sets up its own ring of `queueDepth` entries (two are used at a time).
    /// - Throws: `WriterError("io_uring_queue_init", errno:)` where io_uring is unavailable.
    package convenience init(queueDepth: UInt32 = 8) throws(WriterError) {
        self.init(ring: try URing(entries: queueDepth))
    }

    /// Takes over `ring` (for instance the one ``DurableFileWriters`` probed with). `maximumTransfer` caps one write
    /// SQE (tests lower it to exercise splitting).
    package init(ring: consuming URing, maximumTransfer: Int = URing.maximumTransfer) {
        precondition(ring.submissionQueueEntries >= 2, "a write linked to an fdatasync needs two submission entries")
        precondition(maximumTransfer > 0 && maximumTransfer <= URing.maximumTransfer)
        self.ring = ring
        self.maximumTransfer = maximumTransfer
    }

    /// Completions ready but not reaped; 0 between calls.
    package var readyCompletions: Int { ring.readyCompletions }

    /// Entries queued but not consumed by the kernel; 0 between calls.
    package var pendingSubmissions: Int { ring.pendingSubmissions }

    package func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int64, sync: Bool) throws(WriterError)
    {
        if let brokenBy { throw brokenBy }
        // io_uring reads offset -1 as "the current position"; refuse negative offsets as pwrite does.
        guard offset >= 0 else { throw WriterError("write", errno: EINVAL) }
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            if sync { try self.sync(fd) }
            return
        }
        var written = 0
        while written < bytes.count {
            let chunk = min(bytes.count - written, maximumTransfer)
            let linksSync = sync && written + chunk == bytes.count
            ring.enqueue(
                .write(
                    fd: fd,
                    bytes: UnsafeRawBufferPointer(start: base + written, count: chunk),
                    offset: UInt64(offset) + UInt64(written)
                ),
                userData: Self.writeTag,
                linkNext: linksSync
            )
            if linksSync { ring.enqueue(.fsync(fd: fd, dataOnly: true), userData: Self.fsyncTag) }
            let results = try complete(linksSync ? 2 : 1)
            // A failed write cancels its linked fdatasync (-ECANCELED): the write's error is the one to report.
            let count = try URing.Completion(userData: Self.writeTag, result: results.write).value("write")
            guard count > 0 else { throw WriterError("write (no progress)", errno: EIO) }
            written += count
            if count < chunk {
                // A short write also cancels the linked fdatasync; it is linked again to the write of the rest.
                statistics.shortWrites += 1
                continue
            }
            if linksSync {
                _ = try URing.Completion(userData: Self.fsyncTag, result: results.fsync).value("fdatasync")
            }
        }
    }

    package func sync(_ fd: Int32) throws(WriterError) {
        if let brokenBy { throw brokenBy }
        ring.enqueue(.fsync(fd: fd, dataOnly: true), userData: Self.fsyncTag)
        let results = try complete(1)
        _ = try URing.Completion(userData: Self.fsyncTag, result: results.fsync).value("fdatasync")
    }

    private struct Results {
        var write: Int32 = 0
        var fsync: Int32 = 0
    }

    /// Submits what is queued and waits until `expected` completions have been reaped; returns their results.
    private func complete(_ expected: Int) throws(WriterError) -> Results {
        var results = Results()
        var outstanding = expected
        var busyRetries = 0
        while true {
            let reaped = ring.reapCompletions { completion in
                switch completion.userData {
                case Self.writeTag: results.write = completion.result
                case Self.fsyncTag: results.fsync = completion.result
                default: preconditionFailure("completion for user data \(completion.userData) nobody submitted")
                }
            }
            statistics.completions += UInt64(reaped)
            outstanding -= reaped
            precondition(outstanding >= 0, "more completions than submissions")
            if outstanding == 0 { return results }
            do {
                // Also submits whatever the kernel has not consumed yet (a partial submit, or one cut short).
                try ring.submit(waitingFor: outstanding)
                statistics.submits += 1
            } catch {
                if error.errno == EINTR {
                    // A signal interrupted the wait; what was submitted stays submitted.
                    statistics.interruptedWaits += 1
                } else if (error.errno == EAGAIN || error.errno == EBUSY) && busyRetries < Self.busyRetryLimit {
                    // The kernel is short of request memory or has completions to flush first: yield and retry.
                    busyRetries += 1
                    statistics.busyRetries += 1
                    sched_yield()
                } else {
                    brokenBy = error
                    throw error
                }
            }
        }
    }
}
