import Glibc

/// A local-log failure: what kind (`code`), the file, the OS error when a system call failed, and where in the file
/// when a record is bad.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, opaque so new kinds can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case io, write, corrupt, locked
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A file-system call failed (open, read, mkdir, ftruncate, fsync, rename, unlink, …); see `errno`.
        public static let io = Code(.io)
        /// Writing or syncing a batch through the ``DurableFileWriter`` failed; see `errno` (ENOSPC: disk full).
        /// Nothing of the batch counts as written: it may be appended again at the same offset.
        public static let write = Code(.write)
        /// A segment holds data that is not a valid record where a valid one must be (not a torn tail), or is not a
        /// segment of this format; `path` and `position` say where.
        public static let corrupt = Code(.corrupt)
        /// Another process is writing this log directory.
        public static let locked = Code(.locked)

        /// The code's name: `io`, `write`, `corrupt` or `locked`.
        public var description: String { kind.rawValue }
    }

    /// What failed.
    public var code: Code
    /// The OS error number, 0 when no system call failed.
    public var errno: Int32
    /// The file or directory concerned.
    public var path: String
    /// The byte position in `path` of the bad record, for ``Code/corrupt``.
    public var position: Int64?
    /// What was being done or what is wrong, in words.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String, errno: Int32 = 0, position: Int64? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.position = position
    }

    /// Whether the disk (or the user's quota) is full: the caller stops acknowledging and retries later.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    /// One line: the message, the file, the position and the OS error.
    public var description: String {
        var text = "\(message): \(path)"
        if let position { text += " at byte \(position)" }
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        return text
    }

    /// The error for a failed system call, from the current `errno`.
    static func io(_ operation: String, path: String) -> LogError {
        LogError(.io, operation, path: path, errno: Glibc.errno)
    }
}
