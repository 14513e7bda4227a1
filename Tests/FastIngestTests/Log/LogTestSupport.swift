import FastIngest
import Foundation
import Glibc

/// A fresh directory under the system temp dir, removed by ``remove()``.
struct LogTestDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/rivven-log-test-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The log directory inside (not created: ``LocalLog`` creates it).
    var log: String { path + "/data" }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Helpers shared by the log tests.
enum LogTestSupport {
    /// A log configuration for tests.
    static func configuration(
        _ dir: String,
        maxBytes: Int = 1 << 30,
        segmentBytes: Int = 64 << 20
    ) -> LogConfiguration {
        LogConfiguration(dir: dir, maxBytes: maxBytes, segmentBytes: segmentBytes, fsync: .batch)
    }

    /// Opens a log with the pwrite writer.
    static func open(
        _ dir: String,
        maxBytes: Int = 1 << 30,
        segmentBytes: Int = 64 << 20,
        forwarding: Bool = false,
        writer: any DurableFileWriter = PWriteFileWriter()
    ) throws -> LocalLog {
        // Other tests of this process spawn child processes; between fork and exec a child holds a copy of every
        // descriptor, the log directory's (flocked) one included, so a reopen right after a close can briefly see
        // `locked`. Retry that for up to 2 s; any other error, or a lock that stays, still fails the test.
        for _ in 0..<200 {
            let result = Result { () throws(LogError) in
                try LocalLog(
                    configuration: configuration(dir, maxBytes: maxBytes, segmentBytes: segmentBytes),
                    writer: writer,
                    forwardingEnabled: forwarding
                )
            }
            if case .failure(let error) = result, error.code == .locked {
                usleep(10_000)
                continue
            }
            return try result.get()
        }
        return try LocalLog(
            configuration: configuration(dir, maxBytes: maxBytes, segmentBytes: segmentBytes),
            writer: writer,
            forwardingEnabled: forwarding
        )
    }

    /// Appends `record` encoded to `out` (its `offset` is used as is).
    static func encode(_ record: LogRecord, into out: inout [UInt8]) {
        record.topic.withUnsafeBytes { topic in
            record.value.withUnsafeBytes { value in
                if let key = record.key {
                    key.withUnsafeBytes { key in
                        LogRecordEncoder.append(
                            offset: record.offset,
                            receiveTimeMicros: record.receiveTimeMicros,
                            topic: topic,
                            qos: record.qos,
                            retain: record.retain,
                            key: key,
                            value: value,
                            valueIsEnvelope: record.valueIsEnvelope,
                            into: &out
                        )
                    }
                } else {
                    LogRecordEncoder.append(
                        offset: record.offset,
                        receiveTimeMicros: record.receiveTimeMicros,
                        topic: topic,
                        qos: record.qos,
                        retain: record.retain,
                        key: nil,
                        value: value,
                        valueIsEnvelope: record.valueIsEnvelope,
                        into: &out
                    )
                }
            }
        }
    }

    /// The encoded bytes of `records`.
    static func batch(_ records: [LogRecord]) -> [UInt8] {
        var out: [UInt8] = []
        for record in records { encode(record, into: &out) }
        return out
    }

    /// Appends `records` (numbered from `log.nextOffset`) as one batch.
    static func append(_ records: [LogRecord], to log: LocalLog, sync: Bool = true) throws {
        let bytes = batch(records)
        try bytes.withUnsafeBytes { raw in
            try log.append(batch: raw, firstOffset: records[0].offset, recordCount: records.count, sync: sync)
        }
    }

    /// A simple record with a value of `size` bytes.
    static func record(_ offset: UInt64, size: Int = 10, topic: String = "sensors/temperature") -> LogRecord {
        LogRecord(
            offset: offset,
            receiveTimeMicros: 1_700_000_000_000_000 + Int64(offset) * 1_000,
            topic: Array(topic.utf8),
            qos: UInt8(offset % 3),
            retain: offset % 2 == 0,
            key: offset % 4 == 0 ? nil : Array("key-\(offset)".utf8),
            value: (0..<size).map { UInt8(truncatingIfNeeded: Int(offset) &* 31 &+ $0) },
            valueIsEnvelope: offset % 5 == 0
        )
    }

    /// The encoded size of `record`.
    static func encodedSize(_ record: LogRecord) -> Int { batch([record]).count }

    /// Every record readable from `dir` starting at `offset`.
    static func readAll(_ dir: String, from offset: UInt64 = 0) throws -> [LogRecord] {
        let reader = try LogReader(directory: dir, from: offset)
        var records: [LogRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    /// The segment file names in `dir`, sorted.
    static func segmentNames(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
    }

    static func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func truncateFile(_ path: String, to size: Int) {
        precondition(Glibc.truncate(path, off_t(size)) == 0, "truncate failed")
    }

    /// Copies every file of directory `from` into a new directory `to`.
    static func copyDirectory(_ from: String, to: String) throws {
        try? FileManager.default.removeItem(atPath: to)
        try FileManager.default.copyItem(atPath: from, toPath: to)
    }

    /// The segment name of a base offset, as the format defines it.
    static func segmentName(_ base: UInt64) -> String {
        let digits = String(base)
        return String(repeating: "0", count: 20 - digits.count) + digits + ".log"
    }
}

/// A ``DurableFileWriter`` that fails on demand: the next `failures` writes (or syncs) first write
/// `partialBytes` of the batch, then throw `errno` (ENOSPC by default), like a disk filling up mid-write.
final class FailingWriter: DurableFileWriter {
    let kind = "failing"
    private let inner = PWriteFileWriter()
    var writeFailures = 0
    var syncFailures = 0
    var partialBytes = 0
    var errno: Int32 = ENOSPC
    private(set) var writes = 0
    private(set) var syncs = 0

    func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32, at offset: Int64, sync: Bool) throws(WriterError) {
        writes += 1
        if writeFailures > 0 {
            writeFailures -= 1
            let part = min(partialBytes, bytes.count)
            if part > 0 {
                try inner.write(UnsafeRawBufferPointer(rebasing: bytes[0..<part]), to: fd, at: offset, sync: false)
            }
            throw WriterError("pwrite", errno: errno)
        }
        try inner.write(bytes, to: fd, at: offset, sync: false)
        if sync { try self.sync(fd) }
    }

    func sync(_ fd: Int32) throws(WriterError) {
        syncs += 1
        if syncFailures > 0 {
            syncFailures -= 1
            throw WriterError("fdatasync", errno: errno)
        }
        try inner.sync(fd)
    }
}
