import Glibc

/// Why the bytes at a position are not a valid record.
enum RecordProblem: Equatable, CustomStringConvertible {
    /// Fewer than 8 bytes remain: a torn frame header.
    case incompleteHeader
    /// `bodyLength` is below the minimum.
    case badLength(UInt32)
    /// The body runs past the end of the file.
    case incompleteBody(UInt32)
    /// The CRC of the body does not match.
    case checksumMismatch
    /// The body's flags or lengths are invalid.
    case malformedBody
    /// The record is valid but not numbered as expected.
    case unexpectedOffset(found: UInt64, expected: UInt64)

    var description: String {
        switch self {
        case .incompleteHeader: "incomplete record header"
        case .badLength(let length): "invalid record length \(length)"
        case .incompleteBody(let length): "record of \(length) bytes runs past the end of the segment"
        case .checksumMismatch: "record checksum mismatch"
        case .malformedBody: "malformed record (bad flags or field lengths)"
        case .unexpectedOffset(let found, let expected): "record offset \(found) where \(expected) was expected"
        }
    }

    /// Whether the problem is what a write cut short by a crash looks like (the data stops early), as opposed to
    /// bytes that are present but wrong.
    var isIncomplete: Bool {
        switch self {
        case .incompleteHeader, .incompleteBody: true
        default: false
        }
    }
}

/// One step of a ``SegmentCursor``.
enum SegmentStep {
    /// A valid record; its body is `cursor.body(of:)` until the next step.
    case record(RecordBodyLayout, bodyIndex: Int, recordSize: Int)
    /// The end of the file, exactly at a record boundary.
    case end
    /// The bytes at `cursor.position` are not the expected record.
    case invalid(RecordProblem)
}

/// Reads the records of one segment file in order, validating each (length, CRC, flags, offset), through a buffer
/// filled with large `pread`s. Never trusts a length before checking it against the file size.
struct SegmentCursor {
    let fd: Int32
    let path: String
    /// The file position of the next record.
    private(set) var position: Int64
    /// The file size, as of the last ``refreshSize()``.
    private(set) var fileSize: Int64
    /// The offset the next record must have.
    private(set) var expectedOffset: UInt64

    private var buffer: [UInt8] = []
    /// File position of `buffer[0]`.
    private var bufferPosition: Int64 = 0
    /// Valid bytes in `buffer`.
    private var bufferCount = 0

    /// Bytes read at once.
    static let chunkSize = 1 << 20

    /// A cursor at the first record of an open segment whose header was checked.
    init(fd: Int32, path: String, baseOffset: UInt64) throws(LogError) {
        self.fd = fd
        self.path = path
        self.position = Int64(LogFormat.segmentHeaderSize)
        self.expectedOffset = baseOffset
        self.fileSize = try LogFiles.size(of: fd, path: path)
    }

    /// Re-reads the file size (the file may have grown) and forgets buffered bytes: bytes past the last valid record
    /// may since have been rewritten (a failed write is truncated and written again).
    mutating func refreshSize() throws(LogError) {
        fileSize = try LogFiles.size(of: fd, path: path)
        bufferCount = 0
    }

    /// Validates the record at ``position`` and, when valid, moves past it.
    mutating func next() throws(LogError) -> SegmentStep {
        let remaining = fileSize - position
        if remaining == 0 { return .end }
        if remaining < Int64(LogFormat.frameHeaderSize) { return .invalid(.incompleteHeader) }
        try load(position, count: LogFormat.frameHeaderSize)
        let headerIndex = Int(position - bufferPosition)
        let (bodyLength, crc) = buffer.withUnsafeBytes { raw in
            (raw.loadLittleEndianUInt32(at: headerIndex), raw.loadLittleEndianUInt32(at: headerIndex + 4))
        }
        if Int(bodyLength) < LogFormat.minimumBodySize { return .invalid(.badLength(bodyLength)) }
        if Int64(bodyLength) > remaining - Int64(LogFormat.frameHeaderSize) {
            return .invalid(.incompleteBody(bodyLength))
        }
        let recordSize = LogFormat.frameHeaderSize + Int(bodyLength)
        try load(position, count: recordSize)
        let bodyIndex = Int(position - bufferPosition) + LogFormat.frameHeaderSize
        let layout = buffer.withUnsafeBytes { raw -> RecordBodyLayout? in
            let body = UnsafeRawBufferPointer(rebasing: raw[bodyIndex..<(bodyIndex + Int(bodyLength))])
            guard CRC32C.checksum(body) == crc else { return nil }
            return RecordBodyLayout.parse(body)
        }
        guard let layout else {
            let crcMatches = buffer.withUnsafeBytes { raw in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[bodyIndex..<(bodyIndex + Int(bodyLength))])) == crc
            }
            return .invalid(crcMatches ? .malformedBody : .checksumMismatch)
        }
        if layout.offset != expectedOffset {
            return .invalid(.unexpectedOffset(found: layout.offset, expected: expectedOffset))
        }
        position += Int64(recordSize)
        expectedOffset += 1
        return .record(layout, bodyIndex: bodyIndex, recordSize: recordSize)
    }

    /// The body of the record last returned by ``next()``.
    func withBody<Result>(
        at bodyIndex: Int,
        _ layout: RecordBodyLayout,
        _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        buffer.withUnsafeBytes { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[bodyIndex..<(bodyIndex + layout.value.upperBound)]))
        }
    }

    /// Makes `buffer` hold the file bytes `[start, start + count)`, which lie within ``fileSize``.
    private mutating func load(_ start: Int64, count: Int) throws(LogError) {
        if start >= bufferPosition && start + Int64(count) <= bufferPosition + Int64(bufferCount) { return }
        let want = max(count, Self.chunkSize)
        if buffer.count < want { buffer = [UInt8](repeating: 0, count: want) }
        let got = try LogFiles.read(fd, at: start, count: want, into: &buffer, index: 0, path: path)
        bufferPosition = start
        bufferCount = got
        guard got >= count else {
            // The file shrank between fstat and pread (another process truncated it).
            throw LogError(.io, "the segment shrank while being read", path: path, errno: EIO, position: start)
        }
    }
}

/// The state of a segment's header.
enum SegmentHeaderState: Equatable {
    /// A header of this format.
    case valid
    /// Shorter than a header, or all zero: a file created just before a crash, or being created right now.
    case incomplete
    /// Something else: not a segment of this format, or a version this build cannot read.
    case invalid(String)

    /// Reads and checks the header of the segment open as `fd`.
    static func read(_ fd: Int32, path: String) throws(LogError) -> SegmentHeaderState {
        var header = [UInt8](repeating: 0, count: LogFormat.segmentHeaderSize)
        let got = try LogFiles.read(fd, at: 0, count: header.count, into: &header, index: 0, path: path)
        if got < header.count || header.allSatisfy({ $0 == 0 }) { return .incomplete }
        if let problem = header.withUnsafeBytes({ LogFormat.headerProblem($0) }) { return .invalid(problem) }
        return .valid
    }
}
