import Glibc

/// CPU time of a process or thread in clock ticks (`/proc`, `sysconf(_SC_CLK_TCK)` per second).
struct CPUTicks: Sendable {
    var user = 0
    var system = 0

    static func - (lhs: CPUTicks, rhs: CPUTicks) -> CPUTicks {
        CPUTicks(user: lhs.user - rhs.user, system: lhs.system - rhs.system)
    }

    static func + (lhs: CPUTicks, rhs: CPUTicks) -> CPUTicks {
        CPUTicks(user: lhs.user + rhs.user, system: lhs.system + rhs.system)
    }

    /// User seconds.
    var userSeconds: Double { Double(user) / BenchSystem.ticksPerSecond }
    /// System seconds.
    var systemSeconds: Double { Double(system) / BenchSystem.ticksPerSecond }
}

/// Whole-machine CPU counters from the first line of `/proc/stat` (jiffies summed over every CPU).
struct BoxSnapshot: Sendable {
    /// user + nice + system: time spent running processes.
    var process: Int
    /// Every state counted.
    var total: Int
}

/// What `rivven-mqtt bench` reads about this process, its threads, its broker and the machine.
enum BenchSystem {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// A whole small file (`/proc` files report size 0, so it is read until EOF), or nil.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// utime and stime of a `/proc/…/stat` line (fields 14 and 15; the name in parentheses may hold spaces).
    static func ticks(statLine: String) -> CPUTicks? {
        guard let close = statLine.lastIndex(of: ")") else { return nil }
        let fields = statLine[statLine.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return CPUTicks(user: user, system: system)
    }

    /// CPU time of another process (the broker), or nil once it is gone.
    static func processTicks(pid: Int32) -> CPUTicks? {
        read("/proc/\(pid)/stat").flatMap(ticks(statLine:))
    }

    /// Every thread of this process: its name and CPU time so far.
    static func threads() -> [Int32: (name: String, ticks: CPUTicks)] {
        var result: [Int32: (name: String, ticks: CPUTicks)] = [:]
        guard let directory = opendir("/proc/self/task") else { return result }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            guard let tid = Int32(name) else { continue }
            guard let stat = read("/proc/self/task/\(tid)/stat"), let ticks = ticks(statLine: stat) else { continue }
            let comm = read("/proc/self/task/\(tid)/comm")?.split(separator: "\n").first.map(String.init) ?? ""
            result[tid] = (comm, ticks)
        }
        return result
    }

    /// User and system seconds of the whole process so far (every thread, also those that ended).
    static func processUsage() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    /// User and system seconds of the calling thread so far.
    static func threadUsage() -> (user: Double, system: Double) {
        var usage = rusage()
        // RUSAGE_THREAD (1) is a glibc _GNU_SOURCE macro that Swift does not import.
        getrusage(1, &usage)
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1e6
    }

    /// Resets the process's peak resident set size (`VmHWM`) to its current size; false where the kernel refuses.
    @discardableResult
    static func resetPeakRSS() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var five = UInt8(ascii: "5")
        return write(fd, &five, 1) == 1
    }

    /// The peak resident set size (`VmHWM`) in bytes.
    static func peakRSSBytes() -> Int? {
        guard let status = read("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kib = Int(parts[1]) { return kib * 1024 }
        }
        return nil
    }

    /// The machine's CPU counters now.
    static func box() -> BoxSnapshot? {
        guard let stat = read("/proc/stat"), let first = stat.split(separator: "\n").first, first.hasPrefix("cpu ")
        else { return nil }
        let values = first.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard values.count >= 4 else { return nil }
        let process = values[0] + values[1] + values[2]
        let total = values.prefix(8).reduce(0, +)
        return BoxSnapshot(process: process, total: total)
    }

    /// Process CPU on the machine between two snapshots that `own` (seconds: this process and the broker) does not
    /// explain, in % of one core: other tenants of the box. Nil when a snapshot is missing.
    static func otherPercent(from start: BoxSnapshot?, to end: BoxSnapshot?, own: Double, seconds: Double) -> Double? {
        guard let start, let end, end.total > start.total, seconds > 0 else { return nil }
        let cores = Double(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let processPercent = 100 * cores * Double(end.process - start.process) / Double(end.total - start.total)
        return max(0, processPercent - 100 * own / seconds)
    }

    /// Removes `path` and everything below it (no symbolic links are followed).
    static func removeTree(_ path: String) {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) {
                    String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                let child = path + "/" + name
                var info = stat()
                if lstat(child, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
                    removeTree(child)
                } else {
                    unlink(child)
                }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    /// A new private directory `rivven-bench-XXXXXX` under `$TMPDIR` (or /tmp).
    static func makeTemporaryDirectory() -> String? {
        let parent = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((parent + "/rivven-bench-XXXXXX").utf8CString)
        return template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
    }
}
