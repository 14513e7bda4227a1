import FastIngest
import Foundation
import Testing

@Suite("LocalLog: append, roll, read back")
struct LocalLogTests {
    /// Records covering every flag combination and awkward keys and values.
    static func variedRecords(count: Int, seed: UInt64) -> [LogRecord] {
        var generator = SplitMix64(seed: seed)
        let topics = ["a", "sensors/+/x", "日本/温度", "", String(repeating: "t", count: 300)]
        let texts = ["", "hello", "{\"t\":21.5}", "line\nbreak \"quoted\" \\ ü €", "😀"]
        func bytes(_ variant: Int) -> [UInt8] {
            switch variant {
            case 0: return []
            case 1: return Array(texts[Int.random(in: 0..<texts.count, using: &generator)].utf8)
            case 2:
                return (0..<Int.random(in: 1...64, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            case 3: return [0xFF, 0xFE, 0x00, 0xC3]
            default: return (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            }
        }
        return (0..<count).map { index in
            let flags = index % 24  // qos (3) × retain (2) × key (2) × envelope (2)
            let hasKey = (flags / 6) % 2 == 1
            return LogRecord(
                offset: UInt64(index),
                receiveTimeMicros: Int64.random(in: -1_000_000_000_000...4_000_000_000_000_000, using: &generator),
                topic: Array(topics[index % topics.count].utf8),
                qos: UInt8(flags % 3),
                retain: (flags / 3) % 2 == 1,
                key: hasKey ? bytes(index % 4) : nil,
                value: bytes(index % 5),
                valueIsEnvelope: flags / 12 == 1
            )
        }
    }

    @Test("many records with every flag combination round-trip, in one segment and across reopen")
    func roundTrip() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let records = Self.variedRecords(count: 240, seed: 1)
        do {
            let log = try LogTestSupport.open(dir.log)
            #expect(log.nextOffset == 0)
            #expect(log.recovery.segmentCount == 1)
            #expect(!log.recovery.repaired)
            var index = 0
            var batchSize = 1
            while index < records.count {
                let batch = Array(records[index..<min(index + batchSize, records.count)])
                try LogTestSupport.append(batch, to: log, sync: batchSize % 2 == 0)
                index += batch.count
                batchSize = batchSize % 7 + 1
                #expect(log.nextOffset == UInt64(index))
            }
            let expectedBytes = 16 + LogTestSupport.batch(records).count
            #expect(log.totalBytes == Int64(expectedBytes))
            #expect(try LogTestSupport.fileSize(dir.log + "/" + LogTestSupport.segmentName(0)) == expectedBytes)
            #expect(try LogTestSupport.readAll(dir.log) == records)
        }
        let reopened = try LogTestSupport.open(dir.log)
        #expect(reopened.nextOffset == 240)
        #expect(reopened.recovery.recordsScanned == 240)
        #expect(reopened.recovery.truncatedBytes == 0)
        #expect(reopened.recovery.truncatedAtOffset == nil)
        let more = Self.variedRecords(count: 30, seed: 2).map { record in
            var record = record
            record.offset += 240
            return record
        }
        try LogTestSupport.append(more, to: reopened)
        #expect(try LogTestSupport.readAll(dir.log) == records + more)
        #expect(try LogTestSupport.readAll(dir.log, from: 239) == [records[239]] + more)
    }

    @Test("segments roll before a batch would pass segment_bytes; a batch never spans segments")
    func segmentRoll() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        // Records of one size: no key, 10-byte value.
        func uniform(_ offset: UInt64) -> LogRecord {
            var record = LogTestSupport.record(offset)
            record.key = nil
            return record
        }
        let recordSize = LogTestSupport.encodedSize(uniform(1))
        let segmentBytes = 16 + 5 * recordSize  // room for exactly five records
        let log = try LogTestSupport.open(dir.log, segmentBytes: segmentBytes)
        var batches: [(first: UInt64, count: Int, segment: UInt64)] = []
        var all: [LogRecord] = []
        // Batches of 1, 2, 3, 1, 2, 3, ... records: 1+2 fit, +3 does not (6 > 5), and so on.
        var offset: UInt64 = 0
        for round in 0..<12 {
            let count = round % 3 + 1
            let records = (0..<count).map { uniform(offset + UInt64($0)) }
            try LogTestSupport.append(records, to: log)
            batches.append((offset, count, log.activeSegmentBaseOffset))
            all += records
            offset += UInt64(count)
        }
        let names = try LogTestSupport.segmentNames(dir.log)
        #expect(names.count == log.segmentCount)
        // Each batch starts and ends inside the segment that was active after it was written.
        let bases = names.map { UInt64($0.dropLast(4))! }
        for batch in batches {
            let segmentIndex = bases.lastIndex { $0 <= batch.first }!
            #expect(bases[segmentIndex] == batch.segment)
            let end = segmentIndex + 1 < bases.count ? bases[segmentIndex + 1] : UInt64.max
            #expect(batch.first + UInt64(batch.count) <= end, "batch at \(batch.first) spans segments")
        }
        // Segments hold whole batches, never more than segment_bytes, and begin where the previous one ended.
        var expectedBase: UInt64 = 0
        for (index, name) in names.enumerated() {
            let size = try LogTestSupport.fileSize(dir.log + "/" + name)
            #expect(size <= segmentBytes)
            #expect(bases[index] == expectedBase)
            expectedBase += UInt64((size - 16) / recordSize)
        }
        #expect(expectedBase == 24)
        // Segments get batches 1+2 | 3+1 | 2+3 | 1+2 | 3+1 | 2+3.
        #expect(names.count == 6)
        #expect(bases == [0, 3, 7, 12, 15, 19])
        #expect(try LogTestSupport.readAll(dir.log) == all)
        #expect(try LogTestSupport.readAll(dir.log, from: 13) == Array(all[13...]))
    }

    @Test("a batch larger than segment_bytes gets a segment of its own")
    func oversizedBatch() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let log = try LogTestSupport.open(dir.log, segmentBytes: 200)
        try LogTestSupport.append([LogTestSupport.record(0)], to: log)
        let big = (1..<4).map { LogTestSupport.record($0, size: 100) }
        try LogTestSupport.append(big, to: log)
        #expect(log.activeSegmentBaseOffset == 1)
        try LogTestSupport.append([LogTestSupport.record(4)], to: log)
        #expect(log.activeSegmentBaseOffset == 4)
        #expect(try LogTestSupport.segmentNames(dir.log) == [0, 1, 4].map(LogTestSupport.segmentName))
        #expect(
            try LogTestSupport.fileSize(dir.log + "/" + LogTestSupport.segmentName(1)) == 16
                + LogTestSupport.batch(big).count
        )
        #expect(try LogTestSupport.readAll(dir.log).map(\.offset) == [0, 1, 2, 3, 4])
    }

    @Test("offsets continue across segments and across reopen; the last segment stays active")
    func reopenAcrossSegments() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        var all: [LogRecord] = []
        for session in 0..<4 {
            let log = try LogTestSupport.open(dir.log, segmentBytes: 300)
            #expect(log.nextOffset == UInt64(session * 10))
            #expect(log.recovery.nextOffset == UInt64(session * 10))
            #expect(log.recovery.truncatedBytes == 0)
            for offset in log.nextOffset..<(log.nextOffset + 10) {
                let record = LogTestSupport.record(offset)
                try LogTestSupport.append([record], to: log)
                all.append(record)
            }
            #expect(log.segmentCount == (try LogTestSupport.segmentNames(dir.log)).count)
        }
        let log = try LogTestSupport.open(dir.log, segmentBytes: 300)
        #expect(log.nextOffset == 40)
        #expect(log.oldestOffset == 0)
        #expect(log.recovery.segmentCount == (try LogTestSupport.segmentNames(dir.log)).count)
        #expect(log.recovery.segmentCount > 3)
        #expect(try LogTestSupport.readAll(dir.log) == all)
    }

    @Test("a second writer on the same directory is refused until the first is gone")
    func lock() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        var first: LocalLog? = try LogTestSupport.open(dir.log)
        #expect(first != nil)
        let error = #expect(throws: LogError.self) { try LogTestSupport.open(dir.log) }
        #expect(error?.code == .locked)
        first = nil
        _ = try LogTestSupport.open(dir.log)
    }

    @Test("the directory and its parents are created; other files are ignored")
    func createsDirectory() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let nested = dir.path + "/a/b/c"
        do {
            let log = try LogTestSupport.open(nested)
            try LogTestSupport.append([LogTestSupport.record(0)], to: log)
        }
        try LogTestSupport.writeFile(nested + "/README", Array("not a segment".utf8))
        try LogTestSupport.writeFile(nested + "/123.log", Array("not a segment either".utf8))
        let log = try LogTestSupport.open(nested)
        #expect(log.nextOffset == 1)
        #expect(log.segmentCount == 1)
    }

    @Test("a path that is a file is an error")
    func directoryIsFile() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        try LogTestSupport.writeFile(dir.log, [1, 2, 3])
        let error = #expect(throws: LogError.self) { try LogTestSupport.open(dir.log) }
        #expect(error?.code == .io)
    }
}
