import FastIngest
import Glibc
import Synchronization
import Testing

/// The writer tests (`swift test --filter Writer` selects them all).
@Suite enum WriterTests {}

/// Gates and fixtures for the writer tests.
enum WriterGate {
    /// io_uring works here (tests of the io_uring writer skip otherwise).
    static let uringAvailable = URingSupport.unavailableReason == nil
    static let uringSkipReason = "io_uring unavailable: \(URingSupport.unavailableReason ?? "")"

    /// A tiny tmpfs mount point for the full-disk test, from `RIVVEN_MQTT_TEST_TINY_TMPFS` (mounting one needs
    /// privileges a test should not take: CI does `mount -t tmpfs -o size=1m tmpfs <dir>` and exports the variable).
    static let tinyTmpfs: String? = {
        guard let raw = getenv("RIVVEN_MQTT_TEST_TINY_TMPFS") else { return nil }
        let path = String(cString: raw)
        // Refuse to fill up anything that is not a tmpfs mounted right there.
        guard let mounts = try? readFile("/proc/self/mounts") else { return nil }
        let isTmpfs = String(decoding: mounts, as: UTF8.self).split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 2 && fields[1] == path && fields[2] == "tmpfs"
        }
        // "Tiny": at most 64 MiB, so the test never fills a big /dev/shm.
        guard isTmpfs, let capacity = capacity(of: path), capacity <= 64 << 20 else { return nil }
        return path
    }()

    /// The size of the filesystem holding `path`.
    static func capacity(of path: String) -> Int? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        return Int(fs.f_blocks) * Int(fs.f_frsize)
    }
}

/// A file in a fresh temporary directory, removed with the value.
final class TemporaryFile {
    let path: String
    let fd: Int32

    /// Creates an empty file, in `/dev/shm` when `memory` (fast fdatasync) and otherwise under `$TMPDIR` or `/tmp`.
    init(memory: Bool = false, flags: Int32 = O_RDWR) throws {
        let directory: String
        if memory, access("/dev/shm", W_OK) == 0 {
            directory = "/dev/shm"
        } else {
            directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        }
        var template = Array("\(directory)/rivven-writer-test-XXXXXX".utf8CString)
        // A non-empty array has a base address.
        let created = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard created >= 0 else { throw SystemCallFailed("mkstemp", errno) }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if flags == O_RDWR {
            fd = created
        } else {
            close(created)
            fd = open(path, flags | O_CLOEXEC)
            guard fd >= 0 else { throw SystemCallFailed("open", errno) }
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The file's whole content, read through a separate descriptor.
    func contents() throws -> [UInt8] { try readFile(path) }
}

struct SystemCallFailed: Error, CustomStringConvertible {
    var call: String
    var errno: Int32
    init(_ call: String, _ errno: Int32) {
        self.call = call
        self.errno = errno
    }
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SystemCallFailed("open", errno) }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SystemCallFailed("read", errno)
        }
        if n == 0 { return result }
        result.append(contentsOf: chunk[0..<n])
    }
}

/// `nil` when `actual` equals `expected`, otherwise where they first differ. For big buffers: `#expect(a == b)` on
/// megabytes makes Swift Testing diff them, which takes minutes.
func mismatch(_ actual: some Collection<UInt8>, _ expected: some Collection<UInt8>) -> String? {
    var index = 0
    for (a, e) in zip(actual, expected) {
        if a != e { return "byte \(index) is \(a), expected \(e) (sizes \(actual.count), \(expected.count))" }
        index += 1
    }
    return actual.count == expected.count ? nil : "size \(actual.count), expected \(expected.count)"
}

/// Reproducible pseudo-random bytes.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// One write of a sequence: `bytes` at `offset`.
struct WriteStep {
    var offset: Int64
    var bytes: [UInt8]
    var sync: Bool
}

/// Batches of 1 B, 4 KiB, 1 MiB and 3 MiB (and odd sizes) at increasing offsets, with a hole and an overwrite, syncs
/// alternating; and the file image they must produce.
func writeSequence() -> (steps: [WriteStep], image: [UInt8]) {
    let plan: [(gap: Int, count: Int)] = [
        (0, 1), (0, 4096), (0, 1 << 20), (0, 3 << 20), (0, 1), (123, 4095), (70_000, 4097), (0, 1 << 20), (0, 7),
    ]
    var steps: [WriteStep] = []
    var offset = 0
    for (index, entry) in plan.enumerated() {
        offset += entry.gap
        let bytes = patternBytes(count: entry.count, seed: UInt64(index) &+ 11)
        steps.append(WriteStep(offset: Int64(offset), bytes: bytes, sync: index % 2 == 0))
        offset += entry.count
    }
    // An overwrite inside the 3 MiB batch.
    steps.append(WriteStep(offset: 5000, bytes: patternBytes(count: 10_000, seed: 99), sync: true))

    var image: [UInt8] = []
    for step in steps {
        let end = Int(step.offset) + step.bytes.count
        if image.count < end { image.append(contentsOf: repeatElement(0, count: end - image.count)) }
        image.replaceSubrange(Int(step.offset)..<end, with: step.bytes)
    }
    return (steps, image)
}

/// Runs `steps` through `writer` into `fd`.
func run(_ steps: [WriteStep], through writer: any DurableFileWriter, into fd: Int32) throws {
    for step in steps {
        try step.bytes.withUnsafeBytes { bytes in
            try writer.write(bytes, to: fd, at: step.offset, sync: step.sync)
        }
    }
}

/// The `WriterError` `body` throws, or `nil` when it throws none (another error is recorded as an issue).
func writerError(_ body: () throws -> Void) -> WriterError? {
    do {
        try body()
        return nil
    } catch let error as WriterError {
        return error
    } catch {
        Issue.record("not a WriterError: \(error)")
        return nil
    }
}

/// A thread of its own (so signals can be aimed at it), joined by ``join()``.
final class TestThread: @unchecked Sendable {
    // @unchecked: `thread` is written once before `start` returns and only read afterwards.
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread,
            nil,
            { context in
                // `context` is the retained self passed below; pthread_create hands it back unchanged.
                let this = Unmanaged<TestThread>.fromOpaque(context!).takeRetainedValue()
                this.body()
                return nil
            },
            context
        )
        precondition(rc == 0, "pthread_create failed")
    }

    var id: pthread_t { thread }

    func join() { pthread_join(thread, nil) }
}
