import Glibc

/// A segment file found in a log directory.
struct SegmentEntry: Equatable {
    /// The offset of its first record (from its name).
    var baseOffset: UInt64
    /// Its file name.
    var name: String { LogFormat.segmentName(baseOffset: baseOffset) }
}

/// The file-system calls of the local log, with `EINTR` retried and failures turned into ``LogError``.
enum LogFiles {
    /// Creates `path` and any missing parent directories (`mkdir -p`, mode 0755).
    static func makeDirectories(_ path: String) throws(LogError) {
        if path.isEmpty { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .io("cannot create the log directory", path: prefix)
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw .io("cannot stat the log directory", path: path) }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw LogError(.io, "the log directory is not a directory", path: path, errno: ENOTDIR)
        }
    }

    /// Opens a directory for `fsync`, `openat` and `flock`.
    static func openDirectory(_ path: String) throws(LogError) -> Int32 {
        let fd = retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw .io("cannot open the log directory", path: path) }
        return fd
    }

    /// The segments in `path`, by base offset; other files are ignored.
    static func listSegments(_ path: String) throws(LogError) -> [SegmentEntry] {
        guard let dir = opendir(path) else { throw .io("cannot list the log directory", path: path) }
        defer { closedir(dir) }
        var segments: [SegmentEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .io("cannot list the log directory", path: path) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let base = LogFormat.baseOffset(segmentName: name) {
                segments.append(SegmentEntry(baseOffset: base))
            }
        }
        return segments.sorted { $0.baseOffset < $1.baseOffset }
    }

    /// The size of `fd`.
    static func size(of fd: Int32, path: String) throws(LogError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io("cannot stat", path: path) }
        return Int64(info.st_size)
    }

    /// `fsync(fd)`: data and metadata (a file's size after `ftruncate`, a directory's entries).
    static func fsync(_ fd: Int32, path: String) throws(LogError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw .io("fsync failed", path: path) }
        }
    }

    /// `ftruncate(fd, size)` then `fsync(fd)`.
    static func truncate(_ fd: Int32, to size: Int64, path: String) throws(LogError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw .io("cannot truncate", path: path) }
        }
        try fsync(fd, path: path)
    }

    /// Reads up to `count` bytes at `position` into `buffer` from `index`; fewer only at the end of the file.
    static func read(
        _ fd: Int32,
        at position: Int64,
        count: Int,
        into buffer: inout [UInt8],
        index: Int,
        path: String
    ) throws(LogError) -> Int {
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + index + done, count - done, off_t(position) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot read", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `bytes` at `position` with `pwrite` (small metadata writes; batches go through the
    /// ``DurableFileWriter``).
    static func write(_ fd: Int32, _ bytes: [UInt8], at position: Int64, path: String) throws(LogError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(position) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write", path: path)
            }
            done += n
        }
    }

    // MARK: - Forwarded checkpoint

    /// The checkpoint in directory `path`: nil when there is none.
    /// - Throws: ``LogError/Code/corrupt`` when the file does not hold a decimal offset.
    static func readCheckpoint(directory path: String) throws(LogError) -> UInt64? {
        let file = path + "/" + LogFormat.checkpointName
        let fd = retryingEINTR { open(file, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .io("cannot open the forwarded checkpoint", path: file)
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = try read(fd, at: 0, count: buffer.count, into: &buffer, index: 0, path: file)
        var digits = buffer[0..<count]
        if digits.last == UInt8(ascii: "\n") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 20, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let value = UInt64(String(decoding: digits, as: UTF8.self))
        else {
            throw LogError(.corrupt, "the forwarded checkpoint is not a decimal offset", path: file)
        }
        return value
    }

    /// Replaces the checkpoint atomically: writes `forwarded.tmp`, fsyncs it, renames it over `forwarded` and fsyncs
    /// the directory.
    static func writeCheckpoint(_ offset: UInt64, directory path: String, directoryFD: Int32) throws(LogError) {
        let temporary = path + "/" + LogFormat.checkpointTemporaryName
        let fd = retryingEINTR {
            openat(directoryFD, LogFormat.checkpointTemporaryName, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw .io("cannot create the forwarded checkpoint", path: temporary) }
        do {
            try write(fd, Array((String(offset) + "\n").utf8), at: 0, path: temporary)
            try fsync(fd, path: temporary)
        } catch {
            close(fd)
            unlinkat(directoryFD, LogFormat.checkpointTemporaryName, 0)
            throw error
        }
        close(fd)
        guard renameat(directoryFD, LogFormat.checkpointTemporaryName, directoryFD, LogFormat.checkpointName) == 0
        else {
            let failure = LogError.io("cannot rename the forwarded checkpoint into place", path: temporary)
            unlinkat(directoryFD, LogFormat.checkpointTemporaryName, 0)
            throw failure
        }
        try fsync(directoryFD, path: path)
    }

    /// Calls `body` until it does not fail with `EINTR`.
    static func retryingEINTR(_ body: () -> Int32) -> Int32 {
        while true {
            let result = body()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}
