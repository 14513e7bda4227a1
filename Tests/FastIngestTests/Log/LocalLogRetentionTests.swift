import FastIngest
import Foundation
import Testing

@Suite("LocalLog: retention, forwarded checkpoint, write failures")
struct LocalLogRetentionTests {
    /// The sum of the segment file sizes in `dir`.
    static func bytesOnDisk(_ dir: String) throws -> Int64 {
        try LogTestSupport.segmentNames(dir).reduce(0) { $0 + Int64(try LogTestSupport.fileSize(dir + "/" + $1)) }
    }

    @Test("without forwarding the oldest segments are deleted to stay within max_bytes")
    func retentionWithoutForwarding() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let log = try LogTestSupport.open(dir.log, maxBytes: 1000, segmentBytes: 300)
        var all: [LogRecord] = []
        for offset in 0..<100 {
            let record = LogTestSupport.record(UInt64(offset))
            try LogTestSupport.append([record], to: log)
            all.append(record)
            #expect(log.totalBytes <= 1000)
            #expect(log.totalBytes == (try Self.bytesOnDisk(dir.log)))
            #expect(!log.isFull)
        }
        #expect(log.deletedSegments > 0)
        #expect(log.retentionError == nil)
        let names = try LogTestSupport.segmentNames(dir.log)
        #expect(names.count == log.segmentCount)
        #expect(names.first == LogTestSupport.segmentName(log.oldestOffset))
        // Everything kept reads back from the oldest offset; asking for offset 0 starts there.
        let kept = try LogTestSupport.readAll(dir.log)
        #expect(kept == Array(all[Int(log.oldestOffset)...]))
        #expect(kept.first?.offset == log.oldestOffset)
        // The deleted bytes and what is left add up to everything written.
        let written = Int64(LogTestSupport.batch(all).count)
        let headers = Int64(16 * (log.deletedSegments + log.segmentCount))
        #expect(log.deletedBytes + log.totalBytes == written + headers)
    }

    @Test("with forwarding nothing unforwarded is deleted: full, then deleted once forwarded")
    func retentionWithForwarding() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let log = try LogTestSupport.open(dir.log, maxBytes: 1000, segmentBytes: 300, forwarding: true)
        var offset: UInt64 = 0
        while !log.isFull {
            try LogTestSupport.append([LogTestSupport.record(offset)], to: log)
            offset += 1
            #expect(offset < 100, "never became full")
            if offset >= 100 { return }
        }
        #expect(log.totalBytes > 1000)
        #expect(log.deletedSegments == 0)
        #expect(log.oldestOffset == 0)
        // Still writable (the caller decides about backpressure), still nothing deleted.
        try LogTestSupport.append([LogTestSupport.record(offset)], to: log)
        offset += 1
        #expect(log.isFull)
        #expect(log.deletedSegments == 0)

        // Forwarding part of the first segment frees nothing.
        let names = try LogTestSupport.segmentNames(dir.log)
        let secondBase = UInt64(names[1].dropLast(4))!
        try log.writeForwarded(secondBase - 1)
        #expect(log.deletedSegments == 0)
        #expect(log.isFull)
        // Forwarding all of it deletes it.
        try log.writeForwarded(secondBase)
        #expect(log.deletedSegments == 1)
        #expect(log.oldestOffset == secondBase)
        #expect(try LogTestSupport.segmentNames(dir.log) == Array(names.dropFirst()))
        // Forwarding everything brings the log within max_bytes.
        try log.writeForwarded(offset)
        #expect(!log.isFull)
        #expect(log.totalBytes <= 1000)
        #expect(log.segmentCount >= 1)
        #expect(log.totalBytes == (try Self.bytesOnDisk(dir.log)))
    }

    @Test("the active segment is never deleted, even when it alone is over max_bytes")
    func activeSegmentKept() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let log = try LogTestSupport.open(dir.log, maxBytes: 200, segmentBytes: 200)
        try LogTestSupport.append((0..<5).map { LogTestSupport.record($0, size: 100) }, to: log)
        #expect(log.segmentCount == 1)
        #expect(log.totalBytes > 200)
        try LogTestSupport.append([LogTestSupport.record(5)], to: log)
        #expect(log.segmentCount == 1)
        #expect(log.oldestOffset == 5)
        #expect(try LogTestSupport.readAll(dir.log).map(\.offset) == [5])
    }

    @Test("the forwarded checkpoint survives reopening; a new log starts at it")
    func checkpoint() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        do {
            let log = try LogTestSupport.open(dir.log, forwarding: true)
            #expect(log.readForwarded() == 0)
            try LogTestSupport.append((0..<3).map { LogTestSupport.record($0) }, to: log)
            try log.writeForwarded(2)
            #expect(log.readForwarded() == 2)
        }
        #expect(try String(contentsOfFile: dir.log + "/forwarded", encoding: .utf8) == "2\n")
        try LogTestSupport.writeFile(dir.log + "/forwarded.tmp", Array("999".utf8))  // left by a crash
        do {
            let log = try LogTestSupport.open(dir.log, forwarding: true)
            #expect(log.readForwarded() == 2)
            #expect(!FileManager.default.fileExists(atPath: dir.log + "/forwarded.tmp"))
            try log.writeForwarded(3)
        }
        // With every segment gone, offsets go on from the checkpoint.
        for name in try LogTestSupport.segmentNames(dir.log) {
            try FileManager.default.removeItem(atPath: dir.log + "/" + name)
        }
        let log = try LogTestSupport.open(dir.log, forwarding: true)
        #expect(log.readForwarded() == 3)
        #expect(log.nextOffset == 3)
        #expect(try LogTestSupport.segmentNames(dir.log) == [LogTestSupport.segmentName(3)])
    }

    @Test("a write failing with ENOSPC leaves the log as it was; the retry succeeds at the same offset")
    func diskFull() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let writer = FailingWriter()
        let segment = dir.log + "/" + LogTestSupport.segmentName(0)
        let first = (0..<3).map { LogTestSupport.record($0) }
        let second = (3..<6).map { LogTestSupport.record($0, size: 40) }
        do {
            let log = try LogTestSupport.open(dir.log, writer: writer)
            try LogTestSupport.append(first, to: log)
            let sizeBefore = try LogTestSupport.fileSize(segment)

            writer.writeFailures = 1
            writer.partialBytes = 70  // the disk filled up in the middle of the batch
            let error = #expect(throws: LogError.self) { try LogTestSupport.append(second, to: log) }
            #expect(error?.code == .write)
            #expect(error?.isDiskFull == true)
            #expect(error?.errno == ENOSPC)
            #expect(log.nextOffset == 3)
            #expect(log.totalBytes == Int64(sizeBefore))
            #expect(try LogTestSupport.fileSize(segment) == sizeBefore)
            #expect(try LogTestSupport.readAll(dir.log) == first)

            // A sync failure after a complete write is a failure too.
            writer.syncFailures = 1
            #expect(throws: LogError.self) { try LogTestSupport.append(second, to: log) }
            #expect(log.nextOffset == 3)
            #expect(try LogTestSupport.fileSize(segment) == sizeBefore)

            try LogTestSupport.append(second, to: log)
            #expect(log.nextOffset == 6)
            #expect(try LogTestSupport.readAll(dir.log) == first + second)
        }
        let reopened = try LogTestSupport.open(dir.log)
        #expect(reopened.recovery.truncatedBytes == 0)
        #expect(reopened.nextOffset == 6)
        #expect(try LogTestSupport.readAll(dir.log) == first + second)
    }

    @Test("a failure while starting a new segment leaves no file behind; the retry rolls")
    func diskFullWhileRolling() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let writer = FailingWriter()
        let log = try LogTestSupport.open(dir.log, segmentBytes: 150, writer: writer)
        try LogTestSupport.append([LogTestSupport.record(0, size: 60)], to: log)
        writer.writeFailures = 1  // the new segment's header
        let error = #expect(throws: LogError.self) {
            try LogTestSupport.append([LogTestSupport.record(1, size: 60)], to: log)
        }
        #expect(error?.isDiskFull == true)
        #expect(log.segmentCount == 1)
        #expect(try LogTestSupport.segmentNames(dir.log) == [LogTestSupport.segmentName(0)])
        try LogTestSupport.append([LogTestSupport.record(1, size: 60)], to: log)
        #expect(try LogTestSupport.segmentNames(dir.log) == [0, 1].map(LogTestSupport.segmentName))
        #expect(try LogTestSupport.readAll(dir.log).map(\.offset) == [0, 1])
    }

    @Test("sync() goes through the writer")
    func explicitSync() throws {
        let dir = LogTestDirectory()
        defer { dir.remove() }
        let writer = FailingWriter()
        let log = try LogTestSupport.open(dir.log, writer: writer)
        try LogTestSupport.append([LogTestSupport.record(0)], to: log, sync: false)
        let syncs = writer.syncs
        try log.sync()
        #expect(writer.syncs == syncs + 1)
        writer.syncFailures = 1
        let error = #expect(throws: LogError.self) { try log.sync() }
        #expect(error?.code == .write)
    }
}
