import Foundation
import Glibc
import Synchronization

/// A real `mosquitto` broker (the Debian package's `/usr/sbin/mosquitto`, 2.0.x) started by the test, as a
/// child process in the foreground, listening on free loopback ports.
///
/// The generated configuration, password file, log and persistence database live in a temporary directory
/// that goes away with the broker. The configuration always sets `max_queued_messages 0` (mosquitto's
/// default of 1000 silently drops larger QoS 1/2 backlogs of an offline persistent session), logs
/// everything (`log_type all`) to `log`, and uses `per_listener_settings false`.
///
/// Nothing outlives the test: `stop()`/`kill()` end the broker, `deinit` SIGKILLs one still running, and an
/// `atexit` handler kills any left over. Keep a reference until the end of the test (end with
/// `await broker.stop()`, or use `MosquittoBroker.with`): Swift may release an object right after its last
/// use, not at the end of the scope.
///
/// A typical product test:
///
/// ```swift
/// let broker = try await MosquittoBroker.start()
/// let product = try BinaryProcess()  // the built rivven-mqtt
/// try product.start(arguments: ["run", "--broker", broker.url])
/// #expect(await product.waitForStderr(containing: "subscribed", timeout: .seconds(30)))
/// try await MQTTTool.publish(to: broker.endpoint(), topic: "sensors/1", message: "21.5", qos: 1)
/// let lines = await product.waitForStdoutLines(count: 1, timeout: .seconds(30))
/// product.signal(SIGTERM)
/// #expect(await product.waitForExit(timeout: .seconds(30)) == 0)
/// await broker.stop()
/// ```
///
/// (The product's options and log lines above are placeholders for whatever SPEC.md defines.)
final class MosquittoBroker: @unchecked Sendable {
    // @unchecked: the mutable state (the current process and the log offset of the current run) is in
    // `state`, behind a lock; everything else is immutable after `start`.

    /// What to configure; every field has a default that gives a plain anonymous broker.
    struct Options: Sendable {
        /// `allow_anonymous`.
        var allowAnonymous = true
        /// Users written to a `password_file` with `mosquitto_passwd -b`; empty means no password file.
        var users: [(user: String, password: String)] = []
        /// Adds a TLS listener on `tlsPort` using this material's CA, server certificate and key.
        var tls: TLSMaterial?
        /// With `tls`: `require_certificate true` (mutual TLS; clients need a certificate signed by the CA).
        /// `use_identity_as_username` is always false, so password checks still apply.
        var requireCertificate = false
        /// `persistence true` in the broker's directory, kept across `restart()`, and saved every
        /// `autosaveInterval` seconds, so even `kill()` + `restart()` keeps sessions and queued messages up
        /// to the last save (`stop()` always saves).
        var persistence = false
        /// `autosave_interval` (seconds) when `persistence` is on.
        var autosaveInterval = 1
        /// `max_inflight_messages` (mosquitto's own default is 20; 0 means no limit).
        var maxInflight = 20
        /// Also listen on `::1` (same port numbers).
        var ipv6 = false
        /// Extra lines for the global part of the configuration (before the listeners).
        var extraConfiguration: [String] = []
        /// Extra lines for each plain listener (listener options such as `max_qos`).
        var listenerConfiguration: [String] = []

        init(
            allowAnonymous: Bool = true,
            users: [(user: String, password: String)] = [],
            tls: TLSMaterial? = nil,
            requireCertificate: Bool = false,
            persistence: Bool = false,
            autosaveInterval: Int = 1,
            maxInflight: Int = 20,
            ipv6: Bool = false,
            extraConfiguration: [String] = [],
            listenerConfiguration: [String] = []
        ) {
            self.allowAnonymous = allowAnonymous
            self.users = users
            self.tls = tls
            self.requireCertificate = requireCertificate
            self.persistence = persistence
            self.autosaveInterval = autosaveInterval
            self.maxInflight = maxInflight
            self.ipv6 = ipv6
            self.extraConfiguration = extraConfiguration
            self.listenerConfiguration = listenerConfiguration
        }
    }

    static let executable = "/usr/sbin/mosquitto"

    /// The plain MQTT port on 127.0.0.1 (and on ::1 with `ipv6`).
    let port: Int
    /// The TLS port, when `options.tls` is set.
    let tlsPort: Int?
    let options: Options
    /// The broker's private directory (configuration, log, password file, `data/` for persistence).
    let directory: TemporaryDirectory
    let configurationPath: String
    let logPath: String

    private struct State {
        var process: BinaryProcess?
        /// Where the current run's part of the (appended-to) log file starts.
        var logOffset = 0
    }

    private let state = Mutex(State())

    /// "mqtt://127.0.0.1:PORT".
    var url: String { "mqtt://127.0.0.1:\(port)" }
    /// "mqtts://localhost:TLSPORT" when there is a TLS listener (the certificate names localhost).
    var tlsURL: String? { tlsPort.map { "mqtts://localhost:\($0)" } }

    /// The whole log file so far (all runs, including those before `restart()`).
    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// The PID of the running broker, or `nil` when stopped.
    var pid: Int32? {
        state.withLock { $0.process?.isRunning == true ? $0.process?.pid : nil }
    }

    var isRunning: Bool { pid != nil }

    // MARK: Starting

    private init(options: Options, port: Int, tlsPort: Int?, directory: TemporaryDirectory) {
        self.options = options
        self.port = port
        self.tlsPort = tlsPort
        self.directory = directory
        self.configurationPath = directory.file("mosquitto.conf")
        self.logPath = directory.file("mosquitto.log")
    }

    /// Starts a broker on free ports and returns once it accepts TCP connections. If the chosen port was
    /// taken in the meantime by someone else, it tries again with new ports (up to 5 times). Throws a
    /// `HarnessError` carrying the broker's log if it never comes up.
    static func start(_ options: Options = Options()) async throws -> MosquittoBroker {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw HarnessError("\(executable) is not installed (Debian package mosquitto)")
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let directory = try TemporaryDirectory(prefix: "rivven-mosquitto")
            let port = FreePort.allocate(includingIPv6: options.ipv6)
            let tlsPort = options.tls == nil ? nil : FreePort.allocate(includingIPv6: options.ipv6)
            let broker = MosquittoBroker(options: options, port: port, tlsPort: tlsPort, directory: directory)
            try await broker.writeConfiguration()
            do {
                try await broker.launch()
                return broker
            } catch let error as LaunchFailure {
                guard error.addressInUse else { throw HarnessError(error.description) }
                lastError = HarnessError(error.description)
            }
        }
        throw lastError ?? HarnessError("mosquitto did not start")
    }

    /// Runs `body` with a started broker and stops the broker afterwards, whether `body` throws or not.
    static func with<Result>(
        _ options: Options = Options(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MosquittoBroker) async throws -> Result
    ) async throws -> Result {
        let broker = try await start(options)
        do {
            let result = try await body(broker)
            await broker.cleanup()
            return result
        } catch {
            await broker.cleanup()
            throw error
        }
    }

    deinit {
        state.withLock { $0.process }?.signal(SIGKILL)
        // `directory` is removed by its own deinit.
    }

    // MARK: Stopping and restarting

    /// SIGTERM, then wait for the exit (mosquitto saves its persistence database on the way out);
    /// SIGKILL if it is still running after 5 s. Does nothing if the broker is not running.
    ///
    /// SIGTERM is repeated every 200 ms: mosquitto 2.0 installs its handler, logs "running" and only then
    /// sets its run flag, so a SIGTERM that lands in between (a stop right after the start) is lost.
    func stop() async {
        guard let process = state.withLock({ $0.process }), process.pid != nil else { return }
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        repeat {
            process.signal(SIGTERM)
            if await process.waitForExit(timeout: .milliseconds(200)) != nil {
                return
            }
        } while ContinuousClock.now < deadline
        process.signal(SIGKILL)
        await process.waitForExit(timeout: .seconds(20))
    }

    /// SIGKILL and wait for the exit: a crash, without a final save of the persistence database.
    func kill() async {
        guard let process = state.withLock({ $0.process }) else { return }
        process.signal(SIGKILL)
        await process.waitForExit(timeout: .seconds(20))
    }

    /// Stops the broker (if running) and starts it again on the same port(s), with the same configuration,
    /// password file and persistence directory. Binding the same port is retried for up to 20 s.
    func restart() async throws {
        await stop()
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while true {
            do {
                try await launch()
                return
            } catch let error as LaunchFailure {
                guard error.addressInUse && ContinuousClock.now < deadline else {
                    throw HarnessError("restart: \(error.description)")
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Stops the broker and removes its directory.
    func cleanup() async {
        await stop()
        directory.cleanup()
    }

    // MARK: Log

    /// Waits until the log (of all runs) contains `text`.
    func waitForLog(containing text: String, timeout: Duration = .seconds(30)) async -> Bool {
        await Eventually.wait(timeout: timeout, interval: .milliseconds(50)) { log.contains(text) }
    }

    /// The log of the current run only (since the last start or restart).
    var currentRunLog: String {
        let offset = state.withLock { $0.logOffset }
        guard let data = FileManager.default.contents(atPath: logPath), data.count >= offset else { return "" }
        return String(decoding: data[offset...], as: UTF8.self)
    }

    // MARK: Client endpoints

    /// How `MQTTTool` reaches the plain listener.
    func endpoint(
        username: String? = nil,
        password: String? = nil,
        protocolVersion: MQTTTool.ProtocolVersion = .v311
    ) -> MQTTTool.Endpoint {
        MQTTTool.Endpoint(port: port, username: username, password: password, protocolVersion: protocolVersion)
    }

    /// How `MQTTTool` reaches the TLS listener: trusting `caFile` (default: the material's CA) and presenting
    /// the client certificate when `clientCertificate` is true (or the given certificate/key paths).
    func tlsEndpoint(
        caFile: String? = nil,
        clientCertificate: Bool = false,
        certFile: String? = nil,
        keyFile: String? = nil,
        username: String? = nil,
        password: String? = nil,
        protocolVersion: MQTTTool.ProtocolVersion = .v311
    ) -> MQTTTool.Endpoint {
        guard let tlsPort, let material = options.tls else {
            preconditionFailure("tlsEndpoint needs a broker started with Options.tls")
        }
        let tls = MQTTTool.TLSOptions(
            caFile: caFile ?? material.caCertificate,
            certFile: certFile ?? (clientCertificate ? material.clientCertificate : nil),
            keyFile: keyFile ?? (clientCertificate ? material.clientKey : nil)
        )
        return MQTTTool.Endpoint(
            host: material.hostName,
            port: tlsPort,
            username: username,
            password: password,
            tls: tls,
            protocolVersion: protocolVersion
        )
    }

    // MARK: Configuration

    private func writeConfiguration() async throws {
        var lines = [
            "# Written by the rivven-mqtt test harness (MosquittoBroker).",
            "per_listener_settings false",
            "allow_anonymous \(options.allowAnonymous)",
        ]
        if geteuid() == 0 {
            // Run as root, mosquitto would switch to the "mosquitto" user, which cannot write this
            // test-owned (0700) directory. "root" keeps it as it is.
            lines.append("user root")
        }
        if !options.users.isEmpty {
            let passwordFile = directory.file("passwd")
            try Data().write(to: URL(fileURLWithPath: passwordFile))
            guard let passwd = BinaryProcess.which("mosquitto_passwd") else {
                throw HarnessError("mosquitto_passwd is not installed (Debian package mosquitto)")
            }
            for (user, password) in options.users {
                try await BinaryProcess.runChecked(passwd, ["-b", passwordFile, user, password], timeout: .seconds(30))
            }
            lines.append("password_file \(passwordFile)")
        }
        if options.persistence {
            let data = try directory.makeSubdirectory("data")
            lines += [
                "persistence true",
                "persistence_location \(data)/",
                "autosave_interval \(options.autosaveInterval)",
                "autosave_on_changes false",
            ]
        } else {
            lines.append("persistence false")
        }
        lines += [
            "max_queued_messages 0",
            "max_inflight_messages \(options.maxInflight)",
            "set_tcp_nodelay true",
            "log_dest file \(logPath)",
            "log_type all",
            "log_timestamp true",
            "connection_messages true",
        ]
        lines += options.extraConfiguration

        let hosts = options.ipv6 ? ["127.0.0.1", "::1"] : ["127.0.0.1"]
        for host in hosts {
            lines.append("listener \(port) \(host)")
            lines += options.listenerConfiguration
        }
        if let tls = options.tls, let tlsPort {
            for host in hosts {
                lines += [
                    "listener \(tlsPort) \(host)",
                    "cafile \(tls.caCertificate)",
                    "certfile \(tls.serverCertificate)",
                    "keyfile \(tls.serverKey)",
                    "require_certificate \(options.requireCertificate)",
                    "use_identity_as_username false",
                ]
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: configurationPath, atomically: true, encoding: .utf8)
    }

    // MARK: Launching

    private struct LaunchFailure: Error, CustomStringConvertible {
        var addressInUse: Bool
        var description: String
    }

    /// Starts mosquitto with the written configuration and waits (30 s at most) until it has logged that
    /// it is running and accepts TCP connections on every port.
    private func launch() async throws {
        let logOffset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        let process = BinaryProcess(executable: Self.executable)
        state.withLock {
            $0.process = process
            $0.logOffset = logOffset
        }
        try process.start(arguments: ["-c", configurationPath], currentDirectory: directory.path)

        let ports = [port] + (tlsPort.map { [$0] } ?? [])
        var exited = false
        let ready = await Eventually.wait(timeout: .seconds(30), interval: .milliseconds(25)) {
            if process.exitStatus != nil {
                exited = true
                return true
            }
            // "running" is logged after every listener is open; the TCP probe is the real test, and the
            // log check makes sure it is our broker that answers and not whoever else took the port.
            return currentRunLog.contains(" running")
                && ports.allSatisfy { TCPProbe.isAccepting(port: $0) }
                && (!options.ipv6 || ports.allSatisfy { TCPProbe.isAccepting(port: $0, ipv6: true) })
        }
        if ready && !exited {
            return
        }
        if !exited {
            await process.terminate(grace: .seconds(2))
        } else {
            await process.waitForExit(timeout: .seconds(5))
        }
        let runLog = currentRunLog
        let stderr = process.stderrText + process.stdoutText
        let configuration = (try? String(contentsOfFile: configurationPath, encoding: .utf8)) ?? ""
        throw LaunchFailure(
            addressInUse: (runLog + stderr).contains("Address already in use"),
            description: """
                mosquitto \(exited ? "exited with status \(process.exitStatus.map(String.init) ?? "?")" : "did not accept connections within 30 s") \
                on port(s) \(ports.map(String.init).joined(separator: ", "))
                --- log:
                \(runLog.harnessTail())
                --- stderr/stdout:
                \(stderr.harnessTail())
                --- configuration:
                \(configuration)
                """
        )
    }
}
