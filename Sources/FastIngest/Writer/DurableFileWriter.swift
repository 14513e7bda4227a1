import Glibc

/// Writes batches to files at explicit offsets and makes them durable. Called once per batch (never per
/// message) from the writer thread; implementations block until the kernel reports completion.
package protocol DurableFileWriter: AnyObject {
    /// Which mechanism this is, for logs and `version`: `io_uring` or `pwrite`.
    var kind: String { get }
    /// Writes all of `bytes` at `offset` of `fd` and, when `sync` is true, then `fdatasync`s `fd` — as one linked
    /// submission where the mechanism allows. A short write is retried for the rest; an error is thrown with its
    /// errno (ENOSPC for a full disk), and nothing after the failed part is considered written.
    func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int64, sync: Bool) throws(WriterError)
    /// `fdatasync(fd)`.
    func sync(_ fd: Int32) throws(WriterError)
}

/// A write or sync failure: what failed and the OS error.
package struct WriterError: Error, Sendable, CustomStringConvertible {
    /// The failed operation (`write`, `fdatasync`, `io_uring_submit`, …).
    package var operation: String
    /// The OS error number.
    package var errno: Int32

    /// Creates an error.
    package init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// Whether the disk is full (the writer waits and retries instead of failing).
    package var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    package var description: String { "\(operation) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The portable writer: `pwrite` + `fdatasync`, two system calls per batch. Used where io_uring is unavailable
/// (seccomp, `io_uring_disabled`, old kernels) or disabled.
package final class PWriteFileWriter: DurableFileWriter {
    package let kind = "pwrite"

    /// Creates the writer.
    package init() {}

    package func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int64, sync: Bool) throws(WriterError)
    {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, Int(offset) + done)
            if n < 0 {
                if errno == EINTR { continue }
                throw WriterError("pwrite", errno: errno)
            }
            done += n
        }
        if sync { try self.sync(fd) }
    }

    package func sync(_ fd: Int32) throws(WriterError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw WriterError("fdatasync", errno: errno) }
        }
    }
}
