import FastIngest
import Foundation
import Testing

@Suite("LogReader")
struct LogReaderTests {
    /// A log of `count` records in segments of at most `segmentBytes`.
    static func makeLog(_ dir: LogTestDirectory, count: Int, segmentBytes: Int = 300) throws -> [LogRecord] {
        let log = try LogTestSupport.open(dir.log, segmentBytes: segmentBytes)
        let records = (0..<count).map { LogTestSupport.record(UInt64($0)) }
        for record in records { try LogTestSupport.append([record], to: log) }
        return records
    }

    @Test("reads from any offset; below the oldest starts at the oldest; past the end reads nothing")
    func fromOffset() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = try Self.makeLog(dir, count: 30)
        #expect(try LogTestSupport.segmentNames(dir.log).count > 3)
        for start in [0, 1, 5, 6, 17, 29] {
            #expect(try LogTestSupport.readAll(dir.log, from: UInt64(start)) == Array(records[start...]))
        }
        #expect(try LogTestSupport.readAll(dir.log, from: 30).isEmpty)
        #expect(try LogTestSupport.readAll(dir.log, from: 1000).isEmpty)
        // Delete the first segment, as retention would.
        let first = try LogTestSupport.segmentNames(dir.log)[0]
        try FileManager.default.removeItem(atPath: dir.log + "/" + first)
        let oldest = Int(try LogTestSupport.segmentNames(dir.log)[0].dropLast(4))!
        #expect(try LogTestSupport.readAll(dir.log, from: 0) == Array(records[oldest...]))
    }

    @Test("an empty or missing log reads nothing; a missing directory is an error")
    func emptyLog() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        _ = try LogTestSupport.open(dir.log)
        #expect(try LogTestSupport.readAll(dir.log).isEmpty)
        let error = #expect(throws: LogError.self) { try LogReader(directory: dir.path + "/nope") }
        #expect(error?.code == .io)
        #expect(error?.errno == ENOENT)
    }

    @Test("stops cleanly at a torn tail, never trusting a length")
    func tornTail() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = try Self.makeLog(dir, count: 5, segmentBytes: 1 << 20)
        let segment = dir.log + "/" + LogTestSupport.segmentName(0)
        let bytes = try LogTestSupport.readFile(segment)
        // A huge length in a partial frame, then random garbage: the reader must stop, not crash or allocate 4 GiB.
        try LogTestSupport.writeFile(segment, bytes + [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5])
        #expect(try LogTestSupport.readAll(dir.log) == records)
        var generator = SplitMix64(seed: 3)
        for _ in 0..<50 {
            let garbage = (0..<Int.random(in: 1...200, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            try LogTestSupport.writeFile(segment, bytes + garbage)
            #expect(try LogTestSupport.readAll(dir.log) == records)
        }
    }

    @Test("a damaged record in a sealed segment is reported with the segment and its position")
    func corruptSealedSegment() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = try Self.makeLog(dir, count: 20)
        let names = try LogTestSupport.segmentNames(dir.log)
        let second = dir.log + "/" + names[1]
        let base = Int(names[1].dropLast(4))!
        var bytes = try LogTestSupport.readFile(second)
        let position = 16 + LogTestSupport.encodedSize(records[base])  // the segment's second record
        bytes[position + 20] ^= 0xFF
        try LogTestSupport.writeFile(second, bytes)

        let reader = try LogReader(directory: dir.log)
        var read: [LogRecord] = []
        let error = #expect(throws: LogError.self) {
            while let record = try reader.next() { read.append(record) }
        }
        #expect(error?.code == .corrupt)
        #expect(error?.path == second)
        #expect(error?.position == Int64(position))
        #expect(error?.message.contains("checksum") == true)
        #expect(read == Array(records[0...base]))
    }

    @Test("offsets missing between two segments are reported")
    func gapBetweenSegments() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = try Self.makeLog(dir, count: 20)
        let names = try LogTestSupport.segmentNames(dir.log)
        try FileManager.default.removeItem(atPath: dir.log + "/" + names[1])
        let reader = try LogReader(directory: dir.log)
        var read: [LogRecord] = []
        let error = #expect(throws: LogError.self) {
            while let record = try reader.next() { read.append(record) }
        }
        #expect(error?.code == .corrupt)
        #expect(error?.path == dir.log + "/" + names[0])
        #expect(read == Array(records[0..<Int(names[1].dropLast(4))!]))
    }

    @Test("follows a log being written, into new segments")
    func follows() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let log = try LogTestSupport.open(dir.log, segmentBytes: 300)
        let reader = try LogReader(directory: dir.log)
        #expect(try reader.next() == nil)
        var expected: [LogRecord] = []
        for offset in 0..<25 {
            let record = LogTestSupport.record(UInt64(offset))
            try LogTestSupport.append([record], to: log)
            expected.append(record)
            if offset % 4 == 3 {
                var read: [LogRecord] = []
                while let record = try reader.next() { read.append(record) }
                #expect(read == Array(expected[(offset - 3)...]))
                #expect(reader.nextOffset == UInt64(offset + 1))
            }
        }
        #expect(log.segmentCount > 3)
        #expect(try reader.next()?.offset == 24)
        #expect(try reader.next() == nil)
    }
}

@Suite("log cat JSON lines")
struct LogJSONLineTests {
    static func line(_ record: LogRecord) -> String {
        var out: [UInt8] = []
        record.appendJSONLine(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("UTF-8 value, no key")
    func utf8() {
        let record = LogRecord(
            offset: 7,
            receiveTimeMicros: 1_700_000_000_123_456,
            topic: Array("sensors/t1".utf8),
            qos: 1,
            retain: false,
            key: nil,
            value: Array("{\"t\":21.5,\"u\":\"°C\"}\n".utf8),
            valueIsEnvelope: true
        )
        #expect(
            Self.line(record)
                == #"{"offset":7,"ts":"2023-11-14T22:13:20.123456Z","topic":"sensors/t1","qos":1,"retain":false,"key":null,"value":"{\"t\":21.5,\"u\":\"°C\"}\n"}"#
                + "\n"
        )
    }

    @Test("binary value and key as base64, UTF-8 key as text")
    func binary() {
        var record = LogRecord(
            offset: 18_446_744_073_709_551_615,
            receiveTimeMicros: 0,
            topic: Array("a/b".utf8),
            qos: 2,
            retain: true,
            key: [0xFF, 0x00],
            value: [0x00, 0xFF, 0xFE],
            valueIsEnvelope: false
        )
        #expect(
            Self.line(record)
                == #"{"offset":18446744073709551615,"ts":"1970-01-01T00:00:00.000000Z","topic":"a/b","qos":2,"retain":true,"key_b64":"/wA=","value_b64":"AP/+"}"#
                + "\n"
        )
        record.key = Array("k\u{1}é".utf8)
        record.value = []
        record.receiveTimeMicros = -1
        #expect(
            Self.line(record)
                == #"{"offset":18446744073709551615,"ts":"1969-12-31T23:59:59.999999Z","topic":"a/b","qos":2,"retain":true,"key":"k\u0001é","value":""}"#
                + "\n"
        )
    }

    @Test("a receive time outside years 0000-9999 is null, not a crash")
    func timeOutOfRange() {
        let record = LogRecord(
            offset: 1,
            receiveTimeMicros: .max,
            topic: [],
            qos: 0,
            retain: false,
            key: [],
            value: [0xC3],
            valueIsEnvelope: false
        )
        #expect(
            Self.line(record)
                == #"{"offset":1,"ts":null,"topic":"","qos":0,"retain":false,"key":"","value_b64":"ww=="}"# + "\n"
        )
    }

    @Test("every line of a varied log is one valid JSON object with the value's exact bytes")
    func parsesAsJSON() throws {
        for record in LocalLogTests.variedRecords(count: 48, seed: 9) {
            let text = Self.line(record)
            #expect(text.hasSuffix("\n"))
            #expect(text.dropLast().contains("\n") == false)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            )
            #expect((object["offset"] as? NSNumber)?.uint64Value == record.offset)
            #expect((object["qos"] as? NSNumber)?.intValue == Int(record.qos))
            if let text = object["value"] as? String {
                #expect(Array(text.utf8) == record.value)
            } else {
                let base64 = try #require(object["value_b64"] as? String)
                #expect(Data(base64Encoded: base64).map(Array.init) == record.value)
            }
            if record.key == nil {
                #expect(object["key"] is NSNull)
            } else if let text = object["key"] as? String {
                #expect(Array(text.utf8) == record.key)
            } else {
                let base64 = try #require(object["key_b64"] as? String)
                #expect(Data(base64Encoded: base64).map(Array.init) == record.key)
            }
        }
    }
}

@Suite("LogStatistics")
struct LogStatisticsTests {
    @Test("segments, sizes, record counts, checkpoint and oldest unforwarded record")
    func numbers() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = (0..<20).map { LogTestSupport.record(UInt64($0)) }
        do {
            let log = try LogTestSupport.open(dir.log, segmentBytes: 300, forwarding: true)
            for record in records { try LogTestSupport.append([record], to: log) }
            try log.writeForwarded(7)
        }
        let statistics = try LogStatistics.read(dir: dir.log)
        let names = try LogTestSupport.segmentNames(dir.log)
        #expect(statistics.segments.map(\.name) == names)
        var expectedBase: UInt64 = 0
        for segment in statistics.segments {
            #expect(segment.baseOffset == expectedBase)
            #expect(segment.bytes == Int64(try LogTestSupport.fileSize(dir.log + "/" + segment.name)))
            let inside = records[Int(segment.baseOffset)..<Int(segment.baseOffset) + segment.recordCount]
            #expect(segment.bytes == Int64(16 + LogTestSupport.batch(Array(inside)).count))
            #expect(segment.lastOffset == inside.last?.offset)
            #expect(segment.unreadableBytes == 0)
            #expect(segment.problem == nil)
            expectedBase += UInt64(segment.recordCount)
        }
        #expect(expectedBase == 20)
        #expect(statistics.recordCount == 20)
        #expect(statistics.totalBytes == statistics.segments.reduce(0) { $0 + $1.bytes })
        #expect(statistics.oldestOffset == 0)
        #expect(statistics.nextOffset == 20)
        #expect(statistics.forwarded == 7)
        #expect(statistics.oldestUnforwardedOffset == 7)
        #expect(statistics.oldestUnforwardedReceiveTimeMicros == records[7].receiveTimeMicros)

        var json: [UInt8] = []
        statistics.appendJSON(into: &json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect((object["records"] as? NSNumber)?.intValue == 20)
        #expect((object["total_bytes"] as? NSNumber)?.int64Value == statistics.totalBytes)
        #expect((object["forwarded"] as? NSNumber)?.intValue == 7)
        #expect((object["oldest_unforwarded_offset"] as? NSNumber)?.intValue == 7)
        #expect(object["oldest_unforwarded_ts"] as? String == "2023-11-14T22:13:20.007000Z")
        #expect((object["segments"] as? [Any])?.count == names.count)

        var text: [UInt8] = []
        statistics.appendText(into: &text)
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        #expect(
            lines[0]
                == "log \(dir.log): \(names.count) segments, \(statistics.totalBytes) bytes, 20 records, offsets 0...19, next offset 20"
        )
        #expect(
            lines[1] == "forwarded: below offset 7; oldest unforwarded: offset 7, received 2023-11-14T22:13:20.007000Z"
        )
        #expect(lines.count == 3 + names.count)
        #expect(lines[3].hasPrefix(names[0]))
    }

    @Test("a torn tail is counted as unreadable; no checkpoint means everything is unforwarded")
    func tornTailAndNoCheckpoint() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        do {
            let log = try LogTestSupport.open(dir.log)
            try LogTestSupport.append((0..<3).map { LogTestSupport.record($0) }, to: log)
        }
        let segment = dir.log + "/" + LogTestSupport.segmentName(0)
        try LogTestSupport.writeFile(segment, try LogTestSupport.readFile(segment) + [9, 9, 9])
        let statistics = try LogStatistics.read(dir: dir.log)
        #expect(statistics.segments.count == 1)
        #expect(statistics.segments[0].recordCount == 3)
        #expect(statistics.segments[0].unreadableBytes == 3)
        #expect(
            statistics.segments[0].problem
                == "incomplete record header at byte \(try LogTestSupport.fileSize(segment) - 3)"
        )
        #expect(statistics.forwarded == nil)
        #expect(statistics.oldestUnforwardedOffset == 0)
        #expect(statistics.nextOffset == 3)
        var json: [UInt8] = []
        statistics.appendJSON(into: &json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect(object["forwarded"] is NSNull)
    }
}
