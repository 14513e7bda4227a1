import Glibc

/// What ``LocalLog`` found, and repaired, when it opened its directory.
public struct LogRecovery: Sendable, Equatable {
    /// Segments in the directory after recovery (the active one included).
    public var segmentCount: Int
    /// The offset the next appended record gets.
    public var nextOffset: UInt64
    /// The offset of the oldest record kept (equal to `nextOffset` when the log is empty).
    public var oldestOffset: UInt64
    /// Bytes of all segments after recovery.
    public var totalBytes: Int64
    /// Records validated (length, CRC, offset) while recovering.
    public var recordsScanned: Int
    /// Bytes cut from the end of the log: a torn or corrupt tail. 0 when the log was clean.
    public var truncatedBytes: Int64
    /// The offset the first cut record would have had, when something was cut (also when only a segment header was
    /// rewritten).
    public var truncatedAtOffset: UInt64?
    /// The segment that was cut.
    public var truncatedSegment: String?
    /// Why the first cut record was not accepted.
    public var truncationReason: String?
    /// Empty segments removed because their base offset did not follow the segment before them (a segment created
    /// just before a crash that lost the end of its predecessor).
    public var removedSegments: [String]
    /// Whether the `forwarded` checkpoint was unreadable and was taken as 0 (everything is forwarded again).
    public var invalidCheckpoint: Bool
    /// The checkpoint read when it was past the end of the records kept (it is then moved back to the end).
    public var checkpointAhead: UInt64? = nil

    /// Whether anything was repaired.
    public var repaired: Bool {
        truncatedAtOffset != nil || !removedSegments.isEmpty || invalidCheckpoint
    }
}

/// The local durable log (SPEC §6): the write-ahead log every accepted message goes to first, and the embedded sink
/// when no Rivven is configured. Format: ``LogFormat``.
///
/// Use it from one thread (the writer thread); it is not thread-safe.
///
/// - Opening creates the directory, takes an exclusive `flock` on it, and recovers: the last segment is validated
///   record by record (length, CRC-32C, offsets) and a torn or corrupt tail is cut off (`ftruncate` + `fsync`) and
///   reported in ``recovery``. Sealed segments are trusted: each was synced before the next one was created, so a
///   crash can tear only the newest. An empty newest segment whose base does not follow its predecessor is removed.
/// - ``append(batch:firstOffset:recordCount:sync:)`` writes a batch of whole records through the
///   ``DurableFileWriter``. A batch never spans segments: when it would take the active segment past
///   `segment_bytes`, a new segment is started first (a batch larger than `segment_bytes` gets a segment of its own).
///   `log.fsync` is the caller's business: it passes `sync: true` per batch (`batch`), or calls ``sync()`` on a timer
///   (`interval:MS`), or neither (`never`).
/// - Retention: after an append, while the log is larger than `max_bytes`, the oldest segment is deleted — with
///   forwarding enabled only once Rivven has acknowledged all of it (``writeForwarded(_:)``); otherwise ``isFull``
///   becomes true and the caller applies backpressure. The active segment is never deleted.
public final class LocalLog {
    /// The settings it was opened with.
    package let configuration: LogConfiguration
    /// Whether a Rivven forwarder reads the log: segments are then deleted only once forwarded.
    package let forwardingEnabled: Bool
    /// What opening found and repaired.
    package let recovery: LogRecovery

    /// The offset the next appended record must have.
    public private(set) var nextOffset: UInt64
    /// Bytes of all segments, headers included.
    public private(set) var totalBytes: Int64
    /// True when the log is over `max_bytes` and nothing can be deleted until more is forwarded (forwarding enabled
    /// only). The caller should stop accepting messages (`buffer.when_full`) until it is false again.
    package private(set) var isFull = false
    /// Segments deleted by retention since opening.
    package private(set) var deletedSegments = 0
    /// Bytes deleted by retention since opening.
    package private(set) var deletedBytes: Int64 = 0
    /// The last retention failure (a segment that could not be deleted); nil after a retention pass that worked.
    /// Appends are not failed by it: the data was written.
    package private(set) var retentionError: LogError?

    private let writer: any DurableFileWriter
    private let directoryFD: Int32
    /// Sealed segments, oldest first.
    private var sealed: [(baseOffset: UInt64, bytes: Int64)]
    private var activeBaseOffset: UInt64
    private var activeFD: Int32
    private var activeBytes: Int64
    private var forwarded: UInt64

    /// Opens (creating if needed) the log in `configuration.dir` and recovers it.
    ///
    /// - Throws: ``LogError`` with ``LogError/Code/locked`` when another process has the directory open for writing,
    ///   ``LogError/Code/corrupt`` when the last segment is not a segment of this format, ``LogError/Code/io`` when a
    ///   file-system call fails.
    package init(
        configuration: LogConfiguration,
        writer: any DurableFileWriter,
        forwardingEnabled: Bool
    ) throws(LogError) {
        let opened = try Opener(directory: configuration.dir, writer: writer).open()
        self.configuration = configuration
        self.forwardingEnabled = forwardingEnabled
        self.writer = writer
        self.directoryFD = opened.directoryFD
        self.sealed = opened.sealed
        self.activeBaseOffset = opened.activeBaseOffset
        self.activeFD = opened.activeFD
        self.activeBytes = opened.activeBytes
        self.forwarded = opened.forwarded
        self.nextOffset = opened.recovery.nextOffset
        self.totalBytes = opened.recovery.totalBytes
        self.recovery = opened.recovery
        enforceRetention()
    }

    /// Opens (creating if needed) the log in `configuration.dir` and recovers it, writing through io_uring where it is
    /// usable (else `pwrite`), as `run` does. The entry point for tools and benchmarks outside this package.
    ///
    /// - Throws: as ``init(configuration:writer:forwardingEnabled:)``.
    public convenience init(configuration: LogConfiguration, forwardingEnabled: Bool = false) throws(LogError) {
        try self.init(
            configuration: configuration,
            writer: DurableFileWriters.make(preferIOURing: true).writer,
            forwardingEnabled: forwardingEnabled
        )
    }

    deinit {
        close(activeFD)
        close(directoryFD)  // releases the flock
    }

    /// The offset of the oldest record kept (``nextOffset`` when the log is empty).
    package var oldestOffset: UInt64 { sealed.first?.baseOffset ?? activeBaseOffset }

    /// The number of segment files, the active one included.
    package var segmentCount: Int { sealed.count + 1 }

    /// The base offset of the segment appends go to.
    package var activeSegmentBaseOffset: UInt64 { activeBaseOffset }

    /// Appends a batch of whole encoded records (``LogRecordEncoder``) numbered `firstOffset`,
    /// `firstOffset + 1`, … and, with `sync`, makes it durable before returning.
    ///
    /// On failure nothing of the batch counts as written: the file is cut back to where it was (best effort) and
    /// ``nextOffset`` is unchanged, so the same batch can be appended again later (after ENOSPC, when space returns).
    ///
    /// - Precondition: `firstOffset == nextOffset`, `recordCount > 0`, and `batch` holds exactly `recordCount` records.
    public func append(
        batch: UnsafeRawBufferPointer,
        firstOffset: UInt64,
        recordCount: Int,
        sync: Bool
    ) throws(LogError) {
        precondition(firstOffset == nextOffset, "LocalLog.append: batch starts at \(firstOffset), log at \(nextOffset)")
        precondition(
            recordCount > 0 && batch.count >= recordCount * LogFormat.minimumRecordSize,
            "LocalLog.append: bad batch"
        )
        assert(
            Self.isWellFormed(batch, firstOffset: firstOffset, recordCount: recordCount),
            "LocalLog.append: bad batch"
        )

        let header = Int64(LogFormat.segmentHeaderSize)
        if activeBytes > header && activeBytes + Int64(batch.count) > Int64(configuration.segmentBytes) {
            try roll()
        }
        do {
            try writer.write(batch, to: activeFD, at: activeBytes, sync: sync)
        } catch {
            // Part of the batch may have reached the file: cut it off so the file still ends at the last record
            // counted. If this fails too, recovery or the retried append (same position) deals with the rest.
            _ = ftruncate(activeFD, off_t(activeBytes))
            throw LogError(
                .write,
                "cannot append \(recordCount) records at offset \(firstOffset) (\(error.operation))",
                path: activePath,
                errno: error.errno
            )
        }
        activeBytes += Int64(batch.count)
        totalBytes += Int64(batch.count)
        nextOffset += UInt64(recordCount)
        if totalBytes > Int64(configuration.maxBytes) || isFull {
            enforceRetention()
        }
    }

    /// Makes everything appended so far durable (`fdatasync` of the active segment), for `log.fsync: interval:MS`.
    package func sync() throws(LogError) {
        do {
            try writer.sync(activeFD)
        } catch {
            throw LogError(
                .write,
                "cannot sync the active segment (\(error.operation))",
                path: activePath,
                errno: error.errno
            )
        }
    }

    /// The forwarded checkpoint: every record below this offset has been acknowledged by Rivven. 0 when none.
    package func readForwarded() -> UInt64 { forwarded }

    /// Records that every record below `offset` has been acknowledged by Rivven, durably (`forwarded.tmp`, fsync,
    /// rename, directory fsync), then deletes the segments retention may now delete.
    package func writeForwarded(_ offset: UInt64) throws(LogError) {
        try LogFiles.writeCheckpoint(offset, directory: configuration.dir, directoryFD: directoryFD)
        forwarded = offset
        enforceRetention()
    }

    /// Records that Rivven has acknowledged every record below `offset`, in memory only (the forwarder persists the
    /// checkpoint file itself), and deletes the segments retention may now delete.
    package func noteForwarded(_ offset: UInt64) {
        guard offset > forwarded else { return }
        forwarded = offset
        if totalBytes > Int64(configuration.maxBytes) || isFull { enforceRetention() }
    }

    // MARK: - Segments

    private var activePath: String {
        configuration.dir + "/" + LogFormat.segmentName(baseOffset: activeBaseOffset)
    }

    /// Seals the active segment (synced, so only the newest segment can ever be torn) and starts a new one at
    /// ``nextOffset``.
    private func roll() throws(LogError) {
        do {
            try writer.sync(activeFD)
        } catch {
            throw LogError(
                .write,
                "cannot sync the segment before rolling (\(error.operation))",
                path: activePath,
                errno: error.errno
            )
        }
        let baseOffset = nextOffset
        let name = LogFormat.segmentName(baseOffset: baseOffset)
        let path = configuration.dir + "/" + name
        let fd = try Self.createSegment(name: name, path: path, directoryFD: directoryFD, writer: writer)
        do {
            try LogFiles.fsync(directoryFD, path: configuration.dir)
        } catch {
            close(fd)
            unlinkat(directoryFD, name, 0)
            throw error
        }
        close(activeFD)
        sealed.append((activeBaseOffset, activeBytes))
        activeBaseOffset = baseOffset
        activeFD = fd
        activeBytes = Int64(LogFormat.segmentHeaderSize)
        totalBytes += activeBytes
    }

    /// Creates (or empties) segment `name` and writes its header through `writer` (not synced: the first synced batch
    /// or recovery takes care of it).
    fileprivate static func createSegment(
        name: String,
        path: String,
        directoryFD: Int32,
        writer: any DurableFileWriter
    ) throws(LogError) -> Int32 {
        let fd = LogFiles.retryingEINTR { openat(directoryFD, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .io("cannot create a segment", path: path) }
        let failure = LogFormat.segmentHeader.withUnsafeBytes { raw -> WriterError? in
            do throws(WriterError) {
                try writer.write(raw, to: fd, at: 0, sync: false)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            close(fd)
            unlinkat(directoryFD, name, 0)
            throw LogError(
                .write,
                "cannot write a segment header (\(failure.operation))",
                path: path,
                errno: failure.errno
            )
        }
        return fd
    }

    /// Deletes the oldest segments while the log is over `max_bytes` and they may go; updates ``isFull``.
    private func enforceRetention() {
        do throws(LogError) {
            while totalBytes > Int64(configuration.maxBytes), let oldest = sealed.first {
                let end = sealed.count > 1 ? sealed[1].baseOffset : activeBaseOffset
                if forwardingEnabled && end > forwarded { break }
                let name = LogFormat.segmentName(baseOffset: oldest.baseOffset)
                if unlinkat(directoryFD, name, 0) != 0 && errno != ENOENT {
                    throw LogError.io("cannot delete a segment", path: configuration.dir + "/" + name)
                }
                sealed.removeFirst()
                totalBytes -= oldest.bytes
                deletedSegments += 1
                deletedBytes += oldest.bytes
                try LogFiles.fsync(directoryFD, path: configuration.dir)
            }
            retentionError = nil
        } catch {
            retentionError = error
        }
        isFull = forwardingEnabled && totalBytes > Int64(configuration.maxBytes)
    }

    /// Whether `batch` is exactly `recordCount` frames numbered from `firstOffset` (checked in debug builds).
    private static func isWellFormed(_ batch: UnsafeRawBufferPointer, firstOffset: UInt64, recordCount: Int) -> Bool {
        var position = 0
        var expected = firstOffset
        for _ in 0..<recordCount {
            guard batch.count - position >= LogFormat.minimumRecordSize else { return false }
            let bodyLength = Int(batch.loadLittleEndianUInt32(at: position))
            guard bodyLength >= LogFormat.minimumBodySize,
                bodyLength <= batch.count - position - LogFormat.frameHeaderSize,
                batch.loadLittleEndianUInt64(at: position + LogFormat.frameHeaderSize) == expected
            else { return false }
            position += LogFormat.frameHeaderSize + bodyLength
            expected += 1
        }
        return position == batch.count
    }
}

/// Opens and recovers a log directory for ``LocalLog``.
private struct Opener {
    let directory: String
    let writer: any DurableFileWriter

    struct Opened {
        var directoryFD: Int32
        var sealed: [(baseOffset: UInt64, bytes: Int64)]
        var activeBaseOffset: UInt64
        var activeFD: Int32
        var activeBytes: Int64
        var forwarded: UInt64
        var recovery: LogRecovery
    }

    /// What recovering one segment found.
    struct SegmentRecovery {
        var fd: Int32
        var recordCount: Int
        var validBytes: Int64
    }

    func open() throws(LogError) -> Opened {
        try LogFiles.makeDirectories(directory)
        let directoryFD = try LogFiles.openDirectory(directory)
        do {
            return try open(directoryFD: directoryFD)
        } catch {
            close(directoryFD)
            throw error
        }
    }

    private func path(_ segment: SegmentEntry) -> String { directory + "/" + segment.name }

    private func open(directoryFD: Int32) throws(LogError) -> Opened {
        if flock(directoryFD, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK {
                throw LogError(.locked, "another process is writing this log directory", path: directory, errno: errno)
            }
            throw .io("cannot lock the log directory", path: directory)
        }
        if unlinkat(directoryFD, LogFormat.checkpointTemporaryName, 0) != 0 && errno != ENOENT {
            throw .io("cannot remove a stale checkpoint", path: directory + "/" + LogFormat.checkpointTemporaryName)
        }
        var recovery = LogRecovery(
            segmentCount: 0,
            nextOffset: 0,
            oldestOffset: 0,
            totalBytes: 0,
            recordsScanned: 0,
            truncatedBytes: 0,
            truncatedAtOffset: nil,
            truncatedSegment: nil,
            truncationReason: nil,
            removedSegments: [],
            invalidCheckpoint: false
        )
        var forwarded: UInt64 = 0
        do {
            forwarded = try LogFiles.readCheckpoint(directory: directory) ?? 0
        } catch {
            guard error.code == .corrupt else { throw error }
            recovery.invalidCheckpoint = true
        }

        var segments = try LogFiles.listSegments(directory)
        if segments.isEmpty {
            // A new log starts where the checkpoint says, so offsets never go back for a forwarder.
            let entry = SegmentEntry(baseOffset: forwarded)
            let fd = try LocalLog.createSegment(
                name: entry.name,
                path: path(entry),
                directoryFD: directoryFD,
                writer: writer
            )
            do {
                try LogFiles.fsync(directoryFD, path: directory)
            } catch {
                close(fd)
                throw error
            }
            recovery.segmentCount = 1
            recovery.nextOffset = forwarded
            recovery.oldestOffset = forwarded
            recovery.totalBytes = Int64(LogFormat.segmentHeaderSize)
            return Opened(
                directoryFD: directoryFD,
                sealed: [],
                activeBaseOffset: forwarded,
                activeFD: fd,
                activeBytes: Int64(LogFormat.segmentHeaderSize),
                forwarded: forwarded,
                recovery: recovery
            )
        }

        var last = try recover(segments[segments.count - 1], directoryFD: directoryFD, into: &recovery)
        while last.recordCount == 0 && segments.count > 1 {
            // An empty newest segment must continue its predecessor exactly; otherwise the predecessor lost its end
            // (or the file is stray) and the empty segment goes, so offsets continue from the predecessor.
            let empty = segments[segments.count - 1]
            let previous = segments[segments.count - 2]
            let recovered: SegmentRecovery
            do {
                recovered = try recover(previous, directoryFD: directoryFD, into: &recovery)
            } catch {
                close(last.fd)
                throw error
            }
            if previous.baseOffset + UInt64(recovered.recordCount) == empty.baseOffset {
                close(recovered.fd)
                break
            }
            close(last.fd)
            if unlinkat(directoryFD, empty.name, 0) != 0 {
                close(recovered.fd)
                throw .io("cannot remove an empty segment", path: path(empty))
            }
            do {
                try LogFiles.fsync(directoryFD, path: directory)
            } catch {
                close(recovered.fd)
                throw error
            }
            recovery.removedSegments.append(empty.name)
            segments.removeLast()
            last = recovered
        }

        let active = segments[segments.count - 1]
        var sealed: [(baseOffset: UInt64, bytes: Int64)] = []
        var totalBytes = last.validBytes
        for segment in segments.dropLast() {
            var info = stat()
            guard fstatat(directoryFD, segment.name, &info, 0) == 0 else {
                close(last.fd)
                throw .io("cannot stat a segment", path: path(segment))
            }
            sealed.append((segment.baseOffset, Int64(info.st_size)))
            totalBytes += Int64(info.st_size)
        }
        recovery.segmentCount = segments.count
        recovery.nextOffset = active.baseOffset + UInt64(last.recordCount)
        if forwarded > recovery.nextOffset {
            // The checkpoint is ahead of the records kept: the log lost its end (a power loss with `fsync: never`)
            // after Rivven acknowledged it. Offsets from `nextOffset` on are new records, so they must be forwarded.
            recovery.checkpointAhead = forwarded
            forwarded = recovery.nextOffset
            try LogFiles.writeCheckpoint(forwarded, directory: directory, directoryFD: directoryFD)
        }
        recovery.oldestOffset = segments[0].baseOffset
        recovery.totalBytes = totalBytes
        return Opened(
            directoryFD: directoryFD,
            sealed: sealed,
            activeBaseOffset: active.baseOffset,
            activeFD: last.fd,
            activeBytes: last.validBytes,
            forwarded: forwarded,
            recovery: recovery
        )
    }

    /// Validates every record of `segment`, cuts off an invalid tail (`ftruncate` + `fsync`) and returns the segment
    /// open for writing. A header that is missing, short or all zero (a crash right after the file was created) is
    /// written again; any other bad header is an error, never silently erased.
    private func recover(
        _ segment: SegmentEntry,
        directoryFD: Int32,
        into recovery: inout LogRecovery
    ) throws(LogError) -> SegmentRecovery {
        let path = path(segment)
        let fd = LogFiles.retryingEINTR { openat(directoryFD, segment.name, O_RDWR | O_CLOEXEC) }
        guard fd >= 0 else { throw .io("cannot open a segment", path: path) }
        do {
            return try recover(segment, fd: fd, path: path, into: &recovery)
        } catch {
            close(fd)
            throw error
        }
    }

    private func recover(
        _ segment: SegmentEntry,
        fd: Int32,
        path: String,
        into recovery: inout LogRecovery
    ) throws(LogError) -> SegmentRecovery {
        let size = try LogFiles.size(of: fd, path: path)
        let headerSize = LogFormat.segmentHeaderSize
        switch try SegmentHeaderState.read(fd, path: path) {
        case .valid:
            break
        case .invalid(let problem):
            throw LogError(.corrupt, problem, path: path, position: 0)
        case .incomplete:
            try LogFiles.write(fd, LogFormat.segmentHeader, at: 0, path: path)
            try LogFiles.truncate(fd, to: Int64(headerSize), path: path)
            note(
                cut: max(0, size - Int64(headerSize)),
                at: segment.baseOffset,
                in: segment,
                reason: "incomplete segment header",
                into: &recovery
            )
            return SegmentRecovery(fd: fd, recordCount: 0, validBytes: Int64(headerSize))
        }
        var cursor = try SegmentCursor(fd: fd, path: path, baseOffset: segment.baseOffset)
        var count = 0
        var problem: RecordProblem?
        scan: while true {
            switch try cursor.next() {
            case .record: count += 1
            case .end: break scan
            case .invalid(let found):
                problem = found
                break scan
            }
        }
        recovery.recordsScanned += count
        let validBytes = cursor.position
        if let problem {
            try LogFiles.truncate(fd, to: validBytes, path: path)
            note(
                cut: size - validBytes,
                at: cursor.expectedOffset,
                in: segment,
                reason: problem.description,
                into: &recovery
            )
        }
        return SegmentRecovery(fd: fd, recordCount: count, validBytes: validBytes)
    }

    private func note(
        cut bytes: Int64,
        at offset: UInt64,
        in segment: SegmentEntry,
        reason: String,
        into recovery: inout LogRecovery
    ) {
        recovery.truncatedBytes += bytes
        // Report the lowest offset cut: with a gap, the predecessor's cut comes second but is earlier.
        if recovery.truncatedAtOffset.map({ offset < $0 }) ?? true {
            recovery.truncatedAtOffset = offset
            recovery.truncatedSegment = segment.name
            recovery.truncationReason = reason
        }
    }
}
