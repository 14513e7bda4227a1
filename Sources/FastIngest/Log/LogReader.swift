import Glibc

/// Reads the records of a local-log directory in offset order, across segments, without writing anything
/// (`rivven-mqtt log cat`, and the Rivven forwarder).
///
/// Every record is validated (length bounds, CRC-32C, flags, consecutive offsets) before it is returned. At the end
/// of the newest segment ``next()`` returns nil — also when the data there stops in the middle of a record or is not a
/// valid record (a torn tail, or a write in progress); a later call continues if more was written meanwhile, and
/// follows into segments created since. Anything invalid inside an older segment, or offsets missing between two
/// segments, is corruption and thrown as ``LogError/Code/corrupt`` with the segment's path and the byte position.
///
/// A reader running next to a live writer should not read past the writer's committed ``LocalLog/nextOffset``:
/// records of a batch whose write failed can be visible briefly before the writer cuts them off.
public final class LogReader {
    /// The log directory.
    public let directory: String
    /// The offset the next returned record has, or would have (records below the requested start are skipped).
    public private(set) var nextOffset: UInt64

    /// Bytes of records (frame headers included) read so far, skipped ones included.
    package private(set) var bytesRead: UInt64 = 0

    private let startOffset: UInt64
    private var segments: [SegmentEntry]
    private var index = 0
    private var fd: Int32 = -1
    private var cursor: SegmentCursor?

    /// Opens `directory` for reading from the record at `offset` (or the oldest record kept, when `offset` is below
    /// it: older segments may have been deleted by retention).
    ///
    /// - Throws: ``LogError/Code/io`` when the directory cannot be listed.
    public init(directory: String, from offset: UInt64 = 0) throws(LogError) {
        self.directory = directory
        self.startOffset = offset
        self.nextOffset = offset
        self.segments = try LogFiles.listSegments(directory)
        // Start in the last segment whose base offset is not above `offset`.
        if let last = segments.lastIndex(where: { $0.baseOffset <= offset }) {
            index = last
        } else if let first = segments.first {
            nextOffset = first.baseOffset
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// The next record, or nil at the (current) end of the log.
    ///
    /// - Throws: ``LogError/Code/corrupt`` for an invalid record inside a sealed segment or a gap between segments,
    ///   ``LogError/Code/io`` when a file cannot be read.
    public func next() throws(LogError) -> LogRecord? {
        try readNext(below: .max) { LogRecord($0) }
    }

    /// Lends the next record to `body` (its memory is valid only during the call) and returns what `body` returns;
    /// nil at the (current) end of the log, or when the next record's offset is `limit` or more (it is then not
    /// consumed: a forwarder reads only what the writer made durable).
    ///
    /// - Throws: as ``next()``.
    package func readNext<Result>(
        below limit: UInt64,
        _ body: (LogRecordView) -> Result
    ) throws(LogError) -> Result? {
        if nextOffset >= limit { return nil }
        while true {
            if cursor == nil {
                if try !openCurrent() { return nil }
            }
            // The cursor is mutated in place (`cursor!`) so its buffer is never copied.
            let step = try cursor!.next()
            switch step {
            case .record(let layout, let bodyIndex, let recordSize):
                nextOffset = layout.offset + 1
                bytesRead += UInt64(recordSize)
                if layout.offset < startOffset { continue }
                return cursor!.withBody(at: bodyIndex, layout) { raw in
                    body(LogRecordView(body: raw, layout: layout))
                }
            case .end, .invalid:
                if index == segments.count - 1 {
                    // The newest segment known: it may have grown, or a newer one may have been started.
                    let size = cursor!.fileSize
                    try cursor!.refreshSize()
                    if cursor!.fileSize != size { continue }
                    // The writer names a new segment after the offset where the previous one ends: until that file
                    // exists there is nothing newer, and a poll costs two system calls rather than a directory listing.
                    let successor = directory + "/" + LogFormat.segmentName(baseOffset: cursor!.expectedOffset)
                    if access(successor, F_OK) != 0 { return nil }
                    try relist()
                    if index == segments.count - 1 { return nil }
                    // The writer stops writing a segment before it creates the next one, so its size is final now.
                    try cursor!.refreshSize()
                    continue
                }
                let current = cursor!
                if case .invalid(let problem) = step {
                    throw LogError(
                        .corrupt,
                        "\(problem) inside a sealed segment",
                        path: current.path,
                        position: current.position
                    )
                }
                let following = segments[index + 1]
                guard following.baseOffset == current.expectedOffset else {
                    throw LogError(
                        .corrupt,
                        "segment \(following.name) starts at offset \(following.baseOffset) but this one ends before "
                            + "offset \(current.expectedOffset)",
                        path: current.path,
                        position: current.position
                    )
                }
                closeCurrent()
                index += 1
            }
        }
    }

    /// Opens `segments[index]`; false when there is nothing to read yet.
    private func openCurrent() throws(LogError) -> Bool {
        if segments.isEmpty {
            try relist()
            if segments.isEmpty { return false }
        }
        let segment = segments[index]
        let path = directory + "/" + segment.name
        let opened = LogFiles.retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        if opened < 0 {
            if errno == ENOENT {
                // Deleted by retention before we got to it: continue at the oldest segment still there.
                let expected = nextOffset
                segments = try LogFiles.listSegments(directory)
                guard let resume = segments.firstIndex(where: { $0.baseOffset > segment.baseOffset }) else {
                    segments = []
                    return false
                }
                index = resume
                nextOffset = max(expected, segments[resume].baseOffset)
                return try openCurrent()
            }
            throw .io("cannot open a segment", path: path)
        }
        switch try SegmentHeaderState.read(opened, path: path) {
        case .valid:
            fd = opened
            cursor = try SegmentCursor(fd: opened, path: path, baseOffset: segment.baseOffset)
            return true
        case .incomplete:
            close(opened)
            if index == segments.count - 1 { return false }  // being created: nothing to read yet
            throw LogError(.corrupt, "incomplete segment header in a sealed segment", path: path, position: 0)
        case .invalid(let problem):
            close(opened)
            throw LogError(.corrupt, problem, path: path, position: 0)
        }
    }

    private func closeCurrent() {
        if fd >= 0 { close(fd) }
        fd = -1
        cursor = nil
    }

    /// Re-lists the directory, keeping the current segment first (it stays readable through its descriptor even if
    /// it was deleted meanwhile).
    private func relist() throws(LogError) {
        let listed = try LogFiles.listSegments(directory)
        if segments.isEmpty {
            segments = listed
            index = listed.lastIndex(where: { $0.baseOffset <= startOffset }) ?? 0
            if let first = listed.first, startOffset < first.baseOffset { nextOffset = first.baseOffset }
            return
        }
        let current = segments[index]
        segments = [current] + listed.filter { $0.baseOffset > current.baseOffset }
        index = 0
    }
}
