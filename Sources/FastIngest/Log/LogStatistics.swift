import Glibc

/// What a local-log directory holds (`rivven-mqtt log stat`): its segments, sizes, record counts and how far
/// forwarding got. Reading validates every record, so it takes about a second per GiB.
public struct LogStatistics: Sendable, Equatable {
    /// One segment file.
    public struct Segment: Sendable, Equatable {
        /// The file name.
        public var name: String
        /// The offset of its first record (from the name).
        public var baseOffset: UInt64
        /// The offset of its last valid record; nil when it has none.
        public var lastOffset: UInt64?
        /// The file size.
        public var bytes: Int64
        /// Valid records.
        public var recordCount: Int
        /// Bytes after the last valid record (a torn tail not yet recovered, or damage); 0 normally.
        public var unreadableBytes: Int64
        /// Why those bytes are unreadable.
        public var problem: String?
    }

    /// The directory.
    public var directory: String
    /// The segments, oldest first.
    public var segments: [Segment]
    /// Bytes of all segments.
    public var totalBytes: Int64
    /// Valid records in all segments.
    public var recordCount: Int
    /// The offset of the oldest record; nil when the log holds none.
    public var oldestOffset: UInt64?
    /// The offset the next record written will get (after the last valid record of the newest segment).
    public var nextOffset: UInt64
    /// The `forwarded` checkpoint (every record below it was acknowledged by Rivven); nil when there is none.
    public var forwarded: UInt64?
    /// The oldest record not yet forwarded: the first at or above ``forwarded`` (or the oldest, without a checkpoint).
    public var oldestUnforwardedOffset: UInt64?
    /// The receive time of that record, µs since the Unix epoch.
    public var oldestUnforwardedReceiveTimeMicros: Int64?

    /// Reads the statistics of the log in `dir` (read-only).
    ///
    /// - Throws: ``LogError/Code/io`` when the directory or a segment cannot be read, ``LogError/Code/corrupt`` when
    ///   the `forwarded` checkpoint is not an offset.
    public static func read(dir: String) throws(LogError) -> LogStatistics {
        let entries = try LogFiles.listSegments(dir)
        let forwarded = try LogFiles.readCheckpoint(directory: dir)
        var statistics = LogStatistics(
            directory: dir,
            segments: [],
            totalBytes: 0,
            recordCount: 0,
            oldestOffset: nil,
            nextOffset: entries.last?.baseOffset ?? (forwarded ?? 0),
            forwarded: forwarded,
            oldestUnforwardedOffset: nil,
            oldestUnforwardedReceiveTimeMicros: nil
        )
        for entry in entries {
            let segment = try scan(entry, directory: dir, statistics: &statistics)
            statistics.segments.append(segment)
            statistics.totalBytes += segment.bytes
            statistics.recordCount += segment.recordCount
            if statistics.oldestOffset == nil, segment.recordCount > 0 { statistics.oldestOffset = segment.baseOffset }
            statistics.nextOffset = segment.lastOffset.map { $0 + 1 } ?? segment.baseOffset
        }
        return statistics
    }

    /// Validates every record of one segment.
    private static func scan(
        _ entry: SegmentEntry,
        directory: String,
        statistics: inout LogStatistics
    ) throws(LogError) -> Segment {
        let path = directory + "/" + entry.name
        let fd = LogFiles.retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw .io("cannot open a segment", path: path) }
        defer { close(fd) }
        let size = try LogFiles.size(of: fd, path: path)
        var segment = Segment(
            name: entry.name,
            baseOffset: entry.baseOffset,
            lastOffset: nil,
            bytes: size,
            recordCount: 0,
            unreadableBytes: 0,
            problem: nil
        )
        switch try SegmentHeaderState.read(fd, path: path) {
        case .valid: break
        case .incomplete:
            segment.unreadableBytes = size
            segment.problem = size > 0 ? "incomplete segment header" : nil
            return segment
        case .invalid(let problem):
            segment.unreadableBytes = size
            segment.problem = problem
            return segment
        }
        let unforwardedFrom = statistics.forwarded ?? 0
        var cursor = try SegmentCursor(fd: fd, path: path, baseOffset: entry.baseOffset)
        scan: while true {
            switch try cursor.next() {
            case .record(let layout, _, _):
                segment.recordCount += 1
                segment.lastOffset = layout.offset
                if statistics.oldestUnforwardedOffset == nil && layout.offset >= unforwardedFrom {
                    statistics.oldestUnforwardedOffset = layout.offset
                    statistics.oldestUnforwardedReceiveTimeMicros = layout.receiveTimeMicros
                }
            case .end:
                break scan
            case .invalid(let problem):
                segment.unreadableBytes = size - cursor.position
                segment.problem = "\(problem) at byte \(cursor.position)"
                break scan
            }
        }
        return segment
    }

    // MARK: - Rendering

    /// Appends a human-readable report: a summary, the checkpoint, and one row per segment.
    public func appendText(into out: inout [UInt8]) {
        var text = "log \(directory): \(segments.count) segment\(segments.count == 1 ? "" : "s"), \(totalBytes) bytes, "
        text += "\(recordCount) record\(recordCount == 1 ? "" : "s")"
        if let oldestOffset { text += ", offsets \(oldestOffset)...\(nextOffset - 1)" }
        text += ", next offset \(nextOffset)\n"
        text += "forwarded: " + (forwarded.map { "below offset \($0)" } ?? "none")
        if let offset = oldestUnforwardedOffset, let micros = oldestUnforwardedReceiveTimeMicros {
            var ts: [UInt8] = []
            LogRecord.appendTimestamp(microseconds: micros, quoted: false, into: &ts)
            text += "; oldest unforwarded: offset \(offset), received \(String(decoding: ts, as: UTF8.self))"
        } else {
            text += "; everything forwarded"
        }
        text += "\n"
        let header = ["segment", "base", "last", "records", "bytes", "problem"]
        var rows = [header]
        for segment in segments {
            rows.append([
                segment.name,
                String(segment.baseOffset),
                segment.lastOffset.map { String($0) } ?? "-",
                String(segment.recordCount),
                String(segment.bytes),
                segment.problem.map { "\($0) (\(segment.unreadableBytes) bytes)" } ?? "",
            ])
        }
        var widths = header.map { _ in 0 }
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        for row in rows {
            var line = ""
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                // Names and problems left-aligned, numbers right-aligned.
                if column == 0 || column == row.count - 1 {
                    line += cell + (column == row.count - 1 ? "" : padding)
                } else {
                    line += padding + cell
                }
                if column < row.count - 1 { line += "  " }
            }
            while line.last == " " { line.removeLast() }
            text += line + "\n"
        }
        out.append(contentsOf: text.utf8)
    }

    /// Appends the statistics as one JSON object (and a newline):
    /// `{"dir","segments":[{"name","base_offset","last_offset","records","bytes","unreadable_bytes","problem"}],
    /// "total_bytes","records","oldest_offset","next_offset","forwarded","oldest_unforwarded_offset",
    /// "oldest_unforwarded_ts","oldest_unforwarded_receive_time_us"}`; absent values are `null`.
    public func appendJSON(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"dir":"#.utf8)
        Self.appendString(directory, into: &out)
        out.append(contentsOf: #","segments":["#.utf8)
        for (position, segment) in segments.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"name":"#.utf8)
            Self.appendString(segment.name, into: &out)
            Self.appendField("base_offset", String(segment.baseOffset), into: &out)
            Self.appendField("last_offset", segment.lastOffset.map { String($0) }, into: &out)
            Self.appendField("records", String(segment.recordCount), into: &out)
            Self.appendField("bytes", String(segment.bytes), into: &out)
            Self.appendField("unreadable_bytes", String(segment.unreadableBytes), into: &out)
            out.append(contentsOf: #","problem":"#.utf8)
            if let problem = segment.problem {
                Self.appendString(problem, into: &out)
            } else {
                out.append(contentsOf: "null".utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        Self.appendField("total_bytes", String(totalBytes), into: &out)
        Self.appendField("records", String(recordCount), into: &out)
        Self.appendField("oldest_offset", oldestOffset.map { String($0) }, into: &out)
        Self.appendField("next_offset", String(nextOffset), into: &out)
        Self.appendField("forwarded", forwarded.map { String($0) }, into: &out)
        Self.appendField("oldest_unforwarded_offset", oldestUnforwardedOffset.map { String($0) }, into: &out)
        out.append(contentsOf: #","oldest_unforwarded_ts":"#.utf8)
        if let micros = oldestUnforwardedReceiveTimeMicros {
            LogRecord.appendTimestamp(microseconds: micros, into: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        Self.appendField(
            "oldest_unforwarded_receive_time_us",
            oldestUnforwardedReceiveTimeMicros.map { String($0) },
            into: &out
        )
        out.append(contentsOf: "}\n".utf8)
    }

    /// `,"name":literal` (`null` for nil); `literal` is already JSON (a number).
    private static func appendField(_ name: String, _ literal: String?, into out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: #"":"#.utf8)
        out.append(contentsOf: (literal ?? "null").utf8)
    }

    private static func appendString(_ string: String, into out: inout [UInt8]) {
        let bytes = Array(string.utf8)
        bytes.withUnsafeBytes { JSONPayload.appendLossyString($0, to: &out) }
    }
}
