import Foundation
import Glibc
import Synchronization

/// A child process (by default the product's `rivven-mqtt` binary) with its stdout and stderr captured live.
///
/// Two reader threads drain both pipes continuously, so a chatty child never blocks on a full pipe. Every
/// wait polls against a deadline and gives up with `nil`/`false`/fewer lines instead of hanging the test;
/// the timeouts are liveness limits, not performance assertions. A process still running when the object is
/// released is SIGKILLed, and an `atexit` handler kills any that remain (`ChildProcessRegistry`).
///
/// One object runs one process: `start` (or `run`) may be called once.
final class BinaryProcess: @unchecked Sendable {
    // @unchecked: `process` (Foundation's `Process`, not Sendable) is configured and launched inside
    // `start`, under `state`'s lock, and never touched afterwards; all other mutable state is in `state`,
    // and the captures are themselves thread-safe.

    /// The executable's path.
    let executable: String
    /// What the child wrote to stdout so far.
    let stdout = OutputCapture()
    /// What the child wrote to stderr so far.
    let stderr = OutputCapture()

    private struct State {
        var started = false
        var arguments: [String] = []
        var pid: pid_t?
        /// Exit status, or 128 + signal number for a death by signal; set once the child has been reaped.
        var exitStatus: Int32?
    }

    private let state = Mutex(State())
    private var process: Process?

    /// A process that will run `executable` (an absolute path, or a name looked up in `PATH`).
    init(executable: String) {
        self.executable = executable.contains("/") ? executable : (Self.which(executable) ?? executable)
    }

    /// A process that will run the product binary, located by `productBinaryPath(named:)`.
    convenience init(product name: String = "rivven-mqtt") throws {
        self.init(executable: try Self.productBinaryPath(named: name))
    }

    deinit {
        let pid = state.withLock { $0.exitStatus == nil ? $0.pid : nil }
        if let pid {
            kill(pid, SIGKILL)
        }
    }

    // MARK: Starting

    /// Starts the process.
    ///
    /// - Parameters:
    ///   - environment: variables to set; merged over this process's environment when `inheritEnvironment`
    ///     is true (the default), or the complete environment when it is false. `nil` inherits unchanged.
    ///   - currentDirectory: the child's working directory (default: ours).
    ///   - standardInput: bytes fed to the child's stdin, which is then closed; `nil` connects `/dev/null`.
    func start(
        arguments: [String] = [],
        environment: [String: String]? = nil,
        inheritEnvironment: Bool = true,
        currentDirectory: String? = nil,
        standardInput: [UInt8]? = nil
    ) throws {
        ChildProcessRegistry.prepare()
        try Self.spawnLock.withLock { _ in
            try launch(
                arguments: arguments,
                environment: environment,
                inheritEnvironment: inheritEnvironment,
                currentDirectory: currentDirectory,
                standardInput: standardInput
            )
        }
        // If the child was reaped before it was registered, the handler's unregister came first.
        let (launchedPID, reaped) = state.withLock { ($0.pid, $0.exitStatus != nil) }
        if let launchedPID, reaped {
            ChildProcessRegistry.unregister(launchedPID)
        }
    }

    private func launch(
        arguments: [String],
        environment: [String: String]?,
        inheritEnvironment: Bool,
        currentDirectory: String?,
        standardInput: [UInt8]?
    ) throws {
        try state.withLock { state in
            precondition(!state.started, "BinaryProcess.start called twice; use one BinaryProcess per run")
            state.started = true
            state.arguments = arguments

            guard FileManager.default.isExecutableFile(atPath: executable) else {
                throw HarnessError("cannot start \(executable): not an executable file")
            }
            let process = Process()
            if let launcher = Self.signalResettingLauncher {
                // A child inherits ignored signals: run in the background by a non-interactive shell (as CI
                // may be), the test process ignores SIGINT, and so would the product under test. GNU env
                // resets every signal to its default action, then execs the program (same PID).
                process.executableURL = URL(fileURLWithPath: launcher)
                process.arguments = ["--default-signal", "--", executable] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
            }
            if let environment {
                var merged = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
                merged.merge(environment) { _, new in new }
                process.environment = merged
            } else if !inheritEnvironment {
                process.environment = [:]
            }
            if let currentDirectory {
                process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory, isDirectory: true)
            }

            // Our own pipes, close-on-exec on both ends so no other child inherits them (which would delay
            // end of file); the child's ends are dup2'ed onto 0/1/2 by the spawn, which clears the flag.
            let outPipe = try Self.makePipe()
            let errPipe = try Self.makePipe()
            let inPipe = try standardInput.map { _ in try Self.makePipe() }
            let childOut = FileHandle(fileDescriptor: outPipe.write, closeOnDealloc: true)
            let childErr = FileHandle(fileDescriptor: errPipe.write, closeOnDealloc: true)
            let childIn = inPipe.map { FileHandle(fileDescriptor: $0.read, closeOnDealloc: true) }
            process.standardOutput = childOut
            process.standardError = childErr
            process.standardInput = childIn ?? FileHandle.nullDevice

            process.terminationHandler = { [weak self] finished in
                let status =
                    finished.terminationReason == .uncaughtSignal
                    ? 128 + finished.terminationStatus : finished.terminationStatus
                ChildProcessRegistry.unregister(finished.processIdentifier)
                self?.state.withLock { $0.exitStatus = status }
            }

            do {
                // A child inherits the spawning thread's signal mask unless the spawn resets it; a blocked
                // SIGTERM/SIGINT would make the product's graceful-shutdown tests meaningless. Foundation
                // resets it today (checked with Swift 6.3.1); spawning from an empty mask makes sure.
                var unblocked = sigset_t()
                var previous = sigset_t()
                sigemptyset(&unblocked)
                pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
                defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
                try process.run()
            } catch {
                for fd in [outPipe.read, errPipe.read] + (inPipe.map { [$0.write] } ?? []) {
                    close(fd)
                }
                throw HarnessError("cannot start \(executable): \(error)")
            }
            // The parent's copies of the child's ends must go, or we would never read end of file.
            try? childOut.close()
            try? childErr.close()
            try? childIn?.close()

            let pid = process.processIdentifier
            state.pid = pid
            ChildProcessRegistry.register(pid)
            self.process = process

            let name = URL(fileURLWithPath: executable).lastPathComponent
            Self.startReader(fd: outPipe.read, into: stdout, name: "\(name) stdout")
            Self.startReader(fd: errPipe.read, into: stderr, name: "\(name) stderr")
            if let inPipe, let standardInput {
                Self.startWriter(fd: inPipe.write, bytes: standardInput, name: "\(name) stdin")
            }
        }
    }

    // MARK: State

    /// The child's PID once started.
    var pid: Int32? { state.withLock { $0.pid } }

    /// Whether the child was started and has not been reaped yet.
    var isRunning: Bool { state.withLock { $0.pid != nil && $0.exitStatus == nil } }

    /// The exit status once the child was reaped (128 + signal number for a death by signal).
    var exitStatus: Int32? { state.withLock { $0.exitStatus } }

    /// The executable and arguments, for messages.
    var commandLine: String {
        ([executable] + state.withLock { $0.arguments }).joined(separator: " ")
    }

    /// Stdout so far, decoded as UTF-8.
    var stdoutText: String { stdout.text }
    /// Stderr so far, decoded as UTF-8.
    var stderrText: String { stderr.text }
    /// Complete stdout lines so far (plus an unterminated last line once the stream closed).
    var stdoutLines: [String] { stdout.lines }
    /// Complete stderr lines so far (plus an unterminated last line once the stream closed).
    var stderrLines: [String] { stderr.lines }

    // MARK: Waiting

    /// Waits until stdout has at least `count` lines and returns the first `count`; on timeout (or if the
    /// child exits first) returns the lines there are, so the caller's `#expect` shows what did arrive.
    func waitForStdoutLines(count: Int, timeout: Duration = .seconds(30)) async -> [String] {
        await Eventually.wait(timeout: timeout, interval: .milliseconds(20)) {
            stdout.completeLineCount >= count || (exitStatus != nil && stdout.isFinished)
        }
        return Array(stdout.lines.prefix(count))
    }

    /// Waits until stdout contains `text`; `false` on timeout or if the child exited without writing it.
    func waitForStdout(containing text: String, timeout: Duration = .seconds(30)) async -> Bool {
        await Self.wait(for: text, in: stdout, timeout: timeout) { [self] in exitStatus != nil }
    }

    /// Waits until stderr contains `text`; `false` on timeout or if the child exited without writing it.
    func waitForStderr(containing text: String, timeout: Duration = .seconds(30)) async -> Bool {
        await Self.wait(for: text, in: stderr, timeout: timeout) { [self] in exitStatus != nil }
    }

    private static func wait(
        for text: String,
        in capture: OutputCapture,
        timeout: Duration,
        exited: () -> Bool
    ) async -> Bool {
        let needle = Array(text.utf8)
        var offset = 0
        var found = false
        await Eventually.wait(timeout: timeout, interval: .milliseconds(20)) {
            // Read "finished" before searching, so bytes that arrived just before end of file are searched.
            let done = exited() && capture.isFinished
            let result = capture.search(needle, from: offset)
            offset = result.nextOffset
            found = result.found
            return found || done
        }
        return found
    }

    /// Waits for the child to exit and returns its status (128 + signal number for a death by signal), or
    /// `nil` if it is still running at the deadline. After the exit it also waits (briefly, bounded) until
    /// both pipes reached end of file, so `stdoutText`/`stderrText` are complete.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let exited = await Eventually.wait(timeout: timeout, interval: .milliseconds(20)) { exitStatus != nil }
        guard exited else { return nil }
        // A grandchild that inherited the pipes could keep them open; don't wait for it for long.
        await Eventually.wait(timeout: .seconds(5), interval: .milliseconds(10)) {
            stdout.isFinished && stderr.isFinished
        }
        return exitStatus
    }

    // MARK: Signals

    /// Sends `signo` (SIGTERM, SIGINT, SIGKILL, …) to the child, if it is running.
    func signal(_ signo: Int32) {
        let pid = state.withLock { $0.exitStatus == nil ? $0.pid : nil }
        if let pid {
            kill(pid, signo)
        }
    }

    /// SIGTERM, then SIGKILL if the child has not exited after `grace`; returns the exit status (`nil` only
    /// if even SIGKILL did not end it within `timeout`).
    @discardableResult
    func terminate(grace: Duration = .seconds(5), timeout: Duration = .seconds(20)) async -> Int32? {
        guard pid != nil else { return nil }
        signal(SIGTERM)
        if let status = await waitForExit(timeout: grace) {
            return status
        }
        signal(SIGKILL)
        return await waitForExit(timeout: timeout)
    }

    // MARK: One-shot runs

    /// Runs the process to completion: starts it, waits for its exit and returns status and output. If it
    /// is still running after `timeout` it is killed and a `HarnessError` carrying its output is thrown.
    func run(
        arguments: [String] = [],
        environment: [String: String]? = nil,
        currentDirectory: String? = nil,
        standardInput: [UInt8]? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try start(
            arguments: arguments,
            environment: environment,
            currentDirectory: currentDirectory,
            standardInput: standardInput
        )
        guard let status = await waitForExit(timeout: timeout) else {
            signal(SIGKILL)
            await waitForExit(timeout: .seconds(10))
            throw HarnessError(
                """
                timed out after \(timeout) running: \(commandLine)
                stdout: \(stdoutText.harnessTail())
                stderr: \(stderrText.harnessTail())
                """
            )
        }
        return (status, stdoutText, stderrText)
    }

    /// Runs a helper tool (openssl, mosquitto_passwd, mosquitto_pub, …) and throws a `HarnessError` with its
    /// stderr unless it exits with status 0.
    @discardableResult
    static func runChecked(
        _ executable: String,
        _ arguments: [String],
        standardInput: [UInt8]? = nil,
        currentDirectory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> (stdout: String, stderr: String) {
        let process = BinaryProcess(executable: executable)
        let result = try await process.run(
            arguments: arguments,
            currentDirectory: currentDirectory,
            standardInput: standardInput,
            timeout: timeout
        )
        guard result.status == 0 else {
            throw HarnessError(
                """
                exit status \(result.status) from: \(process.commandLine)
                stderr: \(result.stderr.harnessTail())
                stdout: \(result.stdout.harnessTail())
                """
            )
        }
        return (result.stdout, result.stderr)
    }

    // MARK: Locating executables

    /// The path of the product binary.
    ///
    /// `$RIVVEN_MQTT_BIN` wins when set. Otherwise the binary is looked for in the build products directory
    /// that holds the running test bundle (`.build-*/<triple>/debug/`, where SwiftPM puts both the
    /// `…PackageTests.xctest` and the executables), found from `/proc/self/exe`, `Bundle.main` and
    /// `CommandLine.arguments[0]`, and up to two directories above each.
    static func productBinaryPath(named name: String = "rivven-mqtt") throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["RIVVEN_MQTT_BIN"], !override.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: override) else {
                throw HarnessError("RIVVEN_MQTT_BIN=\(override) is not an executable file")
            }
            return override
        }
        var starts: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(exe)
        }
        if let path = Bundle.main.executablePath {
            starts.append(path)
        }
        starts.append(Bundle.main.bundlePath + "/")
        if let first = CommandLine.arguments.first {
            starts.append(
                first.hasPrefix("/") ? first : FileManager.default.currentDirectoryPath + "/" + first
            )
        }
        var tried: [String] = []
        for start in starts {
            var directory = URL(fileURLWithPath: start).deletingLastPathComponent().standardizedFileURL
            for _ in 0..<3 {
                let candidate = directory.appendingPathComponent(name).path
                if !tried.contains(candidate) {
                    tried.append(candidate)
                }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory),
                    !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: candidate)
                {
                    return candidate
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw HarnessError(
            """
            cannot find the \(name) binary (build it with `swift build --build-tests`, or set RIVVEN_MQTT_BIN); \
            tried: \(tried.joined(separator: ", "))
            """
        )
    }

    /// The first executable called `name` in `$PATH`, then in the usual system directories.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    /// GNU coreutils' env (8.31 or later has `--default-signal`), when present.
    private static let signalResettingLauncher: String? = {
        let env = "/usr/bin/env"
        guard FileManager.default.isExecutableFile(atPath: env) else { return nil }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: env)
        probe.arguments = ["--default-signal", "--", "/bin/true"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return nil }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 ? env : nil
    }()

    // MARK: Pipes and I/O threads

    /// Serialises "create pipes, mark them close-on-exec, spawn" across the harness, so no child spawned
    /// by another test inherits this child's pipe ends between `pipe(2)` and `fcntl(2)` (Glibc's `pipe2`
    /// is not visible to Swift).
    private static let spawnLock = Mutex(())

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw HarnessError("pipe failed: \(String(cString: strerror(errno)))")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    /// Reads `fd` until end of file on a dedicated thread (blocking reads; a test has few children).
    private static func startReader(fd: Int32, into capture: OutputCapture, name: String) {
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    capture.append(buffer[0..<count])
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
            capture.finish()
        }
        thread.name = name
        thread.start()
    }

    /// Writes `bytes` to `fd` and closes it, on a dedicated thread (the child may read slowly or not at all).
    private static func startWriter(fd: Int32, bytes: [UInt8], name: String) {
        let thread = Thread {
            // A child that exits before reading everything makes write(2) raise SIGPIPE, which would kill
            // the test process. Blocked on this thread, it stays pending and write fails with EPIPE
            // instead. (Not SIG_IGN process-wide: children would inherit an ignored SIGPIPE.)
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { buffer in
                    write(fd, buffer.baseAddress! + written, buffer.count - written)
                }
                if count > 0 {
                    written += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break  // EPIPE: the child closed its stdin or exited.
                }
            }
            close(fd)
        }
        thread.name = name
        thread.start()
    }
}
