import FastIngest
import Glibc
import Synchronization

/// A private `mosquitto` for one bench run: a child process listening on a free 127.0.0.1 port, configured in a
/// directory of the run so it cannot silently drop a message (`max_queued_messages 0` is "no limit" in mosquitto 2,
/// QoS 0 messages are queued for offline persistent sessions too, no memory limit), with the baseline harness's
/// other settings (`persistence false`, `set_tcp_nodelay false`) and `max_inflight_messages` = the bench's in-flight
/// window. Stopped by its PID (SIGTERM, then SIGKILL).
final class BenchBroker {
    /// The PID of the broker running now, for the signal handler (0 when none).
    static let runningPID = Atomic<Int32>(0)

    let pid: Int32
    let port: Int
    let logPath: String

    private init(pid: Int32, port: Int, logPath: String) {
        self.pid = pid
        self.port = port
        self.logPath = logPath
    }

    /// The broker settings, as written to `mosquitto.conf`.
    static func configuration(port: Int, inflight: Int, tcpNoDelay: Bool = false) -> String {
        """
        listener \(port) 127.0.0.1
        allow_anonymous true
        persistence false
        queue_qos0_messages true
        max_queued_messages 0
        max_queued_bytes 0
        max_inflight_messages \(inflight)
        max_inflight_bytes 0
        memory_limit 0
        message_size_limit 0
        set_tcp_nodelay \(tcpNoDelay)
        log_dest stderr
        log_type error
        log_type warning
        log_type notice
        log_type information
        connection_messages true

        """
    }

    /// The mosquitto executable: the first on `PATH`, else /usr/sbin/mosquitto or /usr/local/sbin/mosquitto.
    static func executable() -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let candidates =
            path.split(separator: ":").map { $0 + "/mosquitto" } + [
                "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto",
            ]
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// Starts mosquitto in `directory` on a free port (a few ports are tried); waits until it accepts connections.
    static func start(directory: String, inflight: Int, tcpNoDelay: Bool) throws(BenchFailure) -> BenchBroker {
        guard let executable = executable() else {
            throw BenchFailure(
                "mosquitto not found on PATH (nor /usr/sbin): install the mosquitto package, or pass --broker"
            )
        }
        var lastLog = ""
        for attempt in 1...5 {
            guard let port = freePort() else { throw BenchFailure("cannot find a free 127.0.0.1 port") }
            let confPath = directory + "/mosquitto.conf"
            let logPath = directory + "/mosquitto-\(attempt).log"
            guard writeFile(confPath, configuration(port: port, inflight: inflight, tcpNoDelay: tcpNoDelay)) else {
                throw BenchFailure("cannot write \(confPath): \(String(cString: strerror(errno)))")
            }
            let pid = try spawn(executable, ["-c", confPath], output: logPath)
            let broker = BenchBroker(pid: pid, port: port, logPath: logPath)
            runningPID.store(pid, ordering: .releasing)
            let deadline = BenchClock.now() + 5_000_000_000
            while BenchClock.now() < deadline {
                if broker.hasExited { break }
                if accepts(port: port) { return broker }
                usleep(10_000)
            }
            lastLog = broker.logTail
            broker.stop()
        }
        throw BenchFailure("mosquitto did not start: \(lastLog)")
    }

    /// The broker's version from its log (`mosquitto version 2.0.11 starting`), if it said.
    var version: String? {
        let words = (BenchSystem.read(logPath) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
        for index in words.indices.dropFirst().dropLast() where words[index] == "version" {
            if words[index - 1] == "mosquitto" { return String(words[index + 1]) }
        }
        return nil
    }

    /// How many lines of the broker's log contain `text`.
    func logLines(containing text: String) -> Int {
        (BenchSystem.read(logPath) ?? "").split(separator: "\n").count { $0.contains(text) }
    }

    /// The last lines of the broker's log.
    var logTail: String {
        let lines = (BenchSystem.read(logPath) ?? "").split(separator: "\n")
        return lines.suffix(5).joined(separator: " | ")
    }

    /// The broker's CPU time so far (nil once it exited).
    var ticks: CPUTicks? { BenchSystem.processTicks(pid: pid) }

    private var exited = false

    private var hasExited: Bool {
        if exited { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return exited
    }

    /// SIGTERM, then SIGKILL after 5 s; reaps the process.
    func stop() {
        defer { _ = Self.runningPID.compareExchange(expected: pid, desired: 0, ordering: .acquiringAndReleasing) }
        guard !hasExited else { return }
        kill(pid, SIGTERM)
        let deadline = BenchClock.now() + 5_000_000_000
        while BenchClock.now() < deadline {
            if hasExited { return }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        exited = true
    }

    // MARK: Process and sockets

    /// Starts `executable` with stdin from /dev/null, stdout and stderr to `output`, default signal handling and an
    /// empty signal mask (the bench blocks SIGINT/SIGTERM in its own threads).
    private static func spawn(_ executable: String, _ arguments: [String], output: String) throws(BenchFailure) -> Int32
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw BenchFailure("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// A port that was free a moment ago (bound to 0, then released; the broker binds it next).
    static func freePort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private static func writeFile(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}

/// Why a bench run could not be completed (exit 1), in words that say what to do.
struct BenchFailure: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}
