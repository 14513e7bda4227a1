import FastIngest
import Foundation
import Testing

@Suite("LocalLog: recovery of torn and corrupt tails")
struct LocalLogRecoveryTests {
    /// A log of `count` records (batches of up to three), and where the last record starts and ends in its segment.
    struct Fixture {
        let source: LogTestDirectory
        let records: [LogRecord]
        let lastSegment: String
        let lastRecordStart: Int
        let lastRecordEnd: Int
        let segmentBytes: Int

        init(count: Int, segmentBytes: Int = 64 << 20) throws {
            source = LogTestDirectory()
            self.segmentBytes = segmentBytes
            records = (0..<count).map { LogTestSupport.record(UInt64($0), size: $0 % 3 * 17) }
            let log = try LogTestSupport.open(source.log, segmentBytes: segmentBytes)
            var index = 0
            while index < count - 1 {
                let end = min(index + 3, count - 1)
                try LogTestSupport.append(Array(records[index..<end]), to: log)
                index = end
            }
            try LogTestSupport.append([records[count - 1]], to: log)
            lastSegment = LogTestSupport.segmentName(log.activeSegmentBaseOffset)
            lastRecordEnd = try LogTestSupport.fileSize(source.log + "/" + lastSegment)
            lastRecordStart = lastRecordEnd - LogTestSupport.encodedSize(records[count - 1])
        }

        /// A copy of the log to damage.
        func copy(to dir: LogTestDirectory) throws -> String {
            try LogTestSupport.copyDirectory(source.log, to: dir.log)
            return dir.log + "/" + lastSegment
        }

        /// Opens the damaged copy and checks that exactly the last record is gone, that everything before reads back,
        /// and that appending continues at the last record's offset.
        func expectLastRecordCut(in dir: LogTestDirectory, cutBytes: Int, comment: Comment) throws {
            let count = records.count
            let log = try LogTestSupport.open(dir.log, segmentBytes: segmentBytes)
            #expect(log.recovery.truncatedBytes == Int64(cutBytes), comment)
            #expect(log.recovery.truncatedAtOffset == (cutBytes > 0 ? UInt64(count - 1) : nil), comment)
            #expect(log.recovery.truncatedSegment == (cutBytes > 0 ? lastSegment : nil), comment)
            #expect(log.nextOffset == UInt64(count - 1), comment)
            #expect(try LogTestSupport.fileSize(dir.log + "/" + lastSegment) == lastRecordStart, comment)
            #expect(try LogTestSupport.readAll(dir.log) == Array(records.dropLast()), comment)
            let replacement = LogTestSupport.record(UInt64(count - 1), size: 5)
            try LogTestSupport.append([replacement], to: log)
            #expect(
                try LogTestSupport.readAll(dir.log, from: UInt64(count - 2)) == [records[count - 2], replacement],
                comment
            )
        }

        func remove() { source.remove() }
    }

    @Test("a last record cut at every byte position is removed, the rest kept", arguments: [64 << 20, 400])
    func tornAtEveryPosition(segmentBytes: Int) throws {
        let fixture = try Fixture(count: 12, segmentBytes: segmentBytes)
        defer { fixture.remove() }
        for cut in fixture.lastRecordStart..<fixture.lastRecordEnd {
            let dir = LogTestDirectory()
            defer { dir.remove() }
            let segment = try fixture.copy(to: dir)
            LogTestSupport.truncateFile(segment, to: cut)
            try fixture.expectLastRecordCut(in: dir, cutBytes: cut - fixture.lastRecordStart, comment: "cut at \(cut)")
        }
    }

    @Test("a flipped byte anywhere in the last record removes exactly that record")
    func flippedByte() throws {
        let fixture = try Fixture(count: 10)
        defer { fixture.remove() }
        for position in fixture.lastRecordStart..<fixture.lastRecordEnd {
            let dir = LogTestDirectory()
            defer { dir.remove() }
            let segment = try fixture.copy(to: dir)
            var bytes = try LogTestSupport.readFile(segment)
            bytes[position] ^= 0x5A
            try LogTestSupport.writeFile(segment, bytes)
            try fixture.expectLastRecordCut(
                in: dir,
                cutBytes: fixture.lastRecordEnd - fixture.lastRecordStart,
                comment: "byte \(position) flipped"
            )
        }
    }

    @Test("garbage after the last valid record is cut", arguments: [1, 7, 8, 27, 100, 4096])
    func garbageTail(length: Int) throws {
        let fixture = try Fixture(count: 6)
        defer { fixture.remove() }
        for zeros in [false, true] {
            let dir = LogTestDirectory()
            defer { dir.remove() }
            let segment = try fixture.copy(to: dir)
            var generator = SplitMix64(seed: UInt64(length))
            var bytes = try LogTestSupport.readFile(segment)
            bytes += (0..<length).map { _ in zeros ? 0 : UInt8.random(in: 0...255, using: &generator) }
            try LogTestSupport.writeFile(segment, bytes)
            let log = try LogTestSupport.open(dir.log)
            #expect(log.recovery.truncatedBytes == Int64(length))
            #expect(log.recovery.truncatedAtOffset == 6)
            #expect(log.nextOffset == 6)
            #expect(try LogTestSupport.fileSize(segment) == fixture.lastRecordEnd)
            #expect(try LogTestSupport.readAll(dir.log) == fixture.records)
        }
    }

    @Test("a damaged record in the middle of the last segment cuts the tail from there")
    func damageInMiddle() throws {
        let fixture = try Fixture(count: 9)
        defer { fixture.remove() }
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let segment = try fixture.copy(to: dir)
        var bytes = try LogTestSupport.readFile(segment)
        let start = 16 + fixture.records[0..<4].map(LogTestSupport.encodedSize).reduce(0, +)
        bytes[start + 12] ^= 1  // inside the body of record 4
        try LogTestSupport.writeFile(segment, bytes)
        let log = try LogTestSupport.open(dir.log)
        #expect(log.recovery.truncatedAtOffset == 4)
        #expect(log.recovery.truncatedBytes == Int64(bytes.count - start))
        #expect(log.recovery.truncationReason == "record checksum mismatch")
        #expect(log.nextOffset == 4)
        #expect(try LogTestSupport.fileSize(segment) == start)
        #expect(try LogTestSupport.readAll(dir.log) == Array(fixture.records[0..<4]))
    }

    @Test("random damage anywhere never crashes the reader, the statistics or recovery")
    func randomDamage() throws {
        let fixture = try Fixture(count: 30, segmentBytes: 400)
        defer { fixture.remove() }
        let names = try LogTestSupport.segmentNames(fixture.source.log)
        var generator = SplitMix64(seed: 11)
        for round in 0..<60 {
            let dir = LogTestDirectory()
            defer { dir.remove() }
            try LogTestSupport.copyDirectory(fixture.source.log, to: dir.log)
            let name = names[Int.random(in: 0..<names.count, using: &generator)]
            let path = dir.log + "/" + name
            var bytes = try LogTestSupport.readFile(path)
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if round % 3 == 0 { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            try LogTestSupport.writeFile(path, bytes)

            // Whatever the reader returns before it stops or throws is a prefix of the log.
            let reader = try LogReader(directory: dir.log)
            var read: [LogRecord] = []
            do {
                while let record = try reader.next() { read.append(record) }
            } catch {
                #expect(error.code == .corrupt, "round \(round): \(error)")
            }
            #expect(read == Array(fixture.records.prefix(read.count)), "round \(round)")
            _ = try LogStatistics.read(dir: dir.log)
            do {
                let log = try LogTestSupport.open(dir.log, segmentBytes: 400)
                #expect(log.nextOffset <= 30, "round \(round)")
            } catch let error as LogError {
                #expect(error.code == .corrupt, "round \(round): \(error)")
            }
        }
    }

    @Test("an empty newest segment after a predecessor that lost its end is removed")
    func gapBeforeEmptySegment() throws {
        let fixture = try Fixture(count: 8, segmentBytes: 100)
        defer { fixture.remove() }
        let names = try LogTestSupport.segmentNames(fixture.source.log)
        #expect(names == [0, 3, 6, 7].map(LogTestSupport.segmentName))
        // A crash just after rolling: the new segment has only its header, and the predecessor lost its last record.
        let previous = names[names.count - 2]
        let previousBase = UInt64(previous.dropLast(4))!
        let newestBase = UInt64(names.last!.dropLast(4))!
        let dir = LogTestDirectory()
        defer { dir.remove() }
        try LogTestSupport.copyDirectory(fixture.source.log, to: dir.log)
        LogTestSupport.truncateFile(dir.log + "/" + names.last!, to: 16)
        let previousSize = try LogTestSupport.fileSize(dir.log + "/" + previous)
        let lastOfPrevious = fixture.records[Int(newestBase) - 1]
        LogTestSupport.truncateFile(dir.log + "/" + previous, to: previousSize - 3)

        let log = try LogTestSupport.open(dir.log, segmentBytes: 100)
        #expect(log.recovery.removedSegments == [names.last!])
        #expect(log.recovery.truncatedAtOffset == newestBase - 1)
        #expect(log.recovery.truncatedBytes == Int64(LogTestSupport.encodedSize(lastOfPrevious) - 3))
        #expect(log.nextOffset == newestBase - 1)
        #expect(log.activeSegmentBaseOffset == previousBase)
        #expect(try LogTestSupport.segmentNames(dir.log) == Array(names.dropLast()))
        #expect(try LogTestSupport.readAll(dir.log) == Array(fixture.records[0..<Int(newestBase - 1)]))
        let next = LogTestSupport.record(newestBase - 1)
        try LogTestSupport.append([next], to: log)
        #expect(try LogTestSupport.readAll(dir.log).last == next)
    }

    @Test("an empty newest segment that continues its predecessor is kept and appended to")
    func emptyNewestSegmentKept() throws {
        let fixture = try Fixture(count: 8, segmentBytes: 100)
        defer { fixture.remove() }
        let dir = LogTestDirectory()
        defer { dir.remove() }
        try LogTestSupport.copyDirectory(fixture.source.log, to: dir.log)
        let base: UInt64 = 8
        // A crash after creating the file but before its header reached the disk: three bytes of it.
        try LogTestSupport.writeFile(dir.log + "/" + LogTestSupport.segmentName(base), [0x52, 0x56, 0x4E])
        let log = try LogTestSupport.open(dir.log, segmentBytes: 100)
        #expect(log.recovery.removedSegments.isEmpty)
        #expect(log.recovery.truncationReason == "incomplete segment header")
        #expect(log.nextOffset == 8)
        #expect(log.activeSegmentBaseOffset == 8)
        #expect(try LogTestSupport.fileSize(dir.log + "/" + LogTestSupport.segmentName(base)) == 16)
        try LogTestSupport.append([LogTestSupport.record(8)], to: log)
        #expect(try LogTestSupport.readAll(dir.log) == fixture.records + [LogTestSupport.record(8)])
    }

    @Test("a last segment that is not a log segment is an error, not erased")
    func badMagic() throws {
        let fixture = try Fixture(count: 3)
        defer { fixture.remove() }
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let segment = try fixture.copy(to: dir)
        var bytes = try LogTestSupport.readFile(segment)
        bytes[0] = UInt8(ascii: "X")
        try LogTestSupport.writeFile(segment, bytes)
        let error = #expect(throws: LogError.self) { try LogTestSupport.open(dir.log) }
        #expect(error?.code == .corrupt)
        #expect(error?.path == segment)
        #expect(try LogTestSupport.fileSize(segment) == bytes.count)
    }

    @Test("a record with the wrong offset ends the valid part")
    func offsetDiscontinuity() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        do {
            let log = try LogTestSupport.open(dir.log)
            try LogTestSupport.append([LogTestSupport.record(0), LogTestSupport.record(1)], to: log)
        }
        // Append a valid record numbered 5 behind the log's back.
        let segment = dir.log + "/" + LogTestSupport.segmentName(0)
        try LogTestSupport.writeFile(
            segment,
            try LogTestSupport.readFile(segment) + LogTestSupport.batch([LogTestSupport.record(5)])
        )
        let log = try LogTestSupport.open(dir.log)
        #expect(log.nextOffset == 2)
        #expect(log.recovery.truncatedAtOffset == 2)
        #expect(log.recovery.truncationReason == "record offset 5 where 2 was expected")
    }

    @Test("an unreadable checkpoint counts as nothing forwarded")
    func invalidCheckpoint() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        _ = try LogTestSupport.open(dir.log)
        try LogTestSupport.writeFile(dir.log + "/forwarded", Array("12x\n".utf8))
        let log = try LogTestSupport.open(dir.log)
        #expect(log.recovery.invalidCheckpoint)
        #expect(log.readForwarded() == 0)
    }
}
