import Foundation
import Glibc
import Testing

/// Self-tests of the integration-test support library (Tests/RivvenMQTTTests/Support), against a real
/// mosquitto broker and the real mosquitto_pub/mosquitto_sub clients. Every timeout is a liveness limit.
@Suite("Harness", .timeLimit(.minutes(5)))
struct HarnessTests {
    // MARK: Small helpers

    @Test func temporaryDirectoryIsCreatedAndRemoved() throws {
        let directory = try TemporaryDirectory()
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)
        try "x".write(toFile: directory.file("a.txt"), atomically: true, encoding: .utf8)
        try directory.makeSubdirectory("sub/deeper")
        directory.cleanup()
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        directory.cleanup()  // idempotent
    }

    @Test func freePortsAreDistinctAndBindable() {
        let first = FreePort.allocate()
        let second = FreePort.allocate(includingIPv6: true)
        #expect(first != second)
        #expect((1024...65535).contains(first))
        #expect(FreePort.isFree(port: first, ipv6: false))
        #expect(FreePort.isFree(port: second, ipv6: true))
        #expect(!TCPProbe.isAccepting(port: first))
    }

    @Test func eventuallyWaitsForConditionAndGivesUp() async {
        let start = ContinuousClock.now
        #expect(await Eventually.wait(timeout: .seconds(20)) { ContinuousClock.now - start > .milliseconds(100) })
        #expect(await Eventually.wait(timeout: .milliseconds(200), interval: .milliseconds(20)) { false } == false)
    }

    // MARK: BinaryProcess (with /bin/sh; the product binary is still a stub)

    @Test func capturesStdoutLines() async throws {
        let process = BinaryProcess(executable: "/bin/sh")
        try process.start(arguments: ["-c", "echo one; echo two; printf three"])
        #expect(await process.waitForStdoutLines(count: 2, timeout: .seconds(20)) == ["one", "two"])
        #expect(await process.waitForExit(timeout: .seconds(20)) == 0)
        #expect(process.stdoutLines == ["one", "two", "three"])
        #expect(process.stdoutText == "one\ntwo\nthree")
        #expect(process.stderrText.isEmpty)
    }

    @Test func capturesStderrAndExitStatus() async throws {
        let process = BinaryProcess(executable: "/bin/sh")
        try process.start(arguments: ["-c", "echo 'something failed' >&2; exit 3"])
        #expect(await process.waitForStderr(containing: "failed", timeout: .seconds(20)))
        #expect(await process.waitForExit(timeout: .seconds(20)) == 3)
        #expect(process.stderrLines == ["something failed"])
        #expect(!(await process.waitForStderr(containing: "never written", timeout: .seconds(20))))
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGKILL])
    func deathBySignalIs128PlusSignalNumber(signal signo: Int32) async throws {
        let process = BinaryProcess(executable: "/bin/sh")
        try process.start(arguments: ["-c", "echo ready; exec sleep 60"])
        #expect(await process.waitForStdout(containing: "ready", timeout: .seconds(20)))
        // Signal `sleep`, not the shell before its exec (a shell may catch SIGINT and lose it on exec).
        let pid = try #require(process.pid)
        #expect(
            await Eventually.wait(timeout: .seconds(20)) {
                (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n"
            }
        )
        #expect(process.isRunning)
        process.signal(signo)
        #expect(await process.waitForExit(timeout: .seconds(20)) == 128 + signo)
        #expect(!process.isRunning)
    }

    @Test func childrenStartWithDefaultSignalHandling() async throws {
        // Whatever this test process ignores or blocks (a background job of a non-interactive shell
        // ignores SIGINT), the product under test must see SIGINT/SIGTERM/SIGPIPE as a supervisor sends them.
        let result = try await BinaryProcess(executable: "/bin/sh").run(
            arguments: ["-c", "grep -E '^Sig(Ign|Blk):' /proc/self/status"],
            timeout: .seconds(30)
        )
        let masks = Dictionary(
            uniqueKeysWithValues: result.stdout.split(separator: "\n").compactMap { line -> (String, UInt64)? in
                let parts = line.split(separator: ":")
                guard parts.count == 2 else { return nil }
                return (String(parts[0]), UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) ?? .max)
            }
        )
        let standardSignals: UInt64 = 0x7FFF_FFFF  // signals 1...31
        #expect(masks["SigIgn"].map { $0 & standardSignals } == 0)
        #expect(masks["SigBlk"].map { $0 & standardSignals } == 0)
    }

    @Test func startFailsForAMissingExecutable() {
        #expect(throws: HarnessError.self) {
            try BinaryProcess(executable: "/nonexistent/rivven-mqtt").start()
        }
    }

    @Test func drainsLargeOutputWhileRunning() async throws {
        // 4 MiB on each stream: far more than a pipe holds, so this only finishes if both are drained.
        let process = BinaryProcess(executable: "/bin/sh")
        try process.start(arguments: [
            "-c", "head -c 4194304 /dev/zero | tr '\\0' x; head -c 4194304 /dev/zero | tr '\\0' y >&2; echo; echo done",
        ])
        #expect(await process.waitForExit(timeout: .seconds(60)) == 0)
        #expect(process.stdout.byteCount == 4_194_304 + 6)
        #expect(process.stderr.byteCount == 4_194_304)
        #expect(process.stdoutLines.last == "done")
    }

    @Test func oneShotRunWithInputEnvironmentAndDirectory() async throws {
        let directory = try TemporaryDirectory()
        let result = try await BinaryProcess(executable: "/bin/sh").run(
            arguments: ["-c", "cat; echo \"$HARNESS_VALUE\"; pwd; echo to-stderr >&2; exit 7"],
            environment: ["HARNESS_VALUE": "from-env"],
            currentDirectory: directory.path,
            standardInput: Array("from-stdin\n".utf8),
            timeout: .seconds(30)
        )
        #expect(result.status == 7)
        let realDirectory = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        #expect(result.stdout == "from-stdin\nfrom-env\n\(realDirectory)\n")
        #expect(result.stderr == "to-stderr\n")
    }

    @Test func oneShotRunThrowsAfterItsTimeout() async throws {
        let process = BinaryProcess(executable: "/bin/sh")
        await #expect(throws: HarnessError.self) {
            _ = try await process.run(arguments: ["-c", "echo started; exec sleep 60"], timeout: .milliseconds(300))
        }
        #expect(await process.waitForExit(timeout: .seconds(20)) == 128 + SIGKILL)
    }

    @Test func releasedProcessIsKilledAndUnregistered() async throws {
        func startAndRelease() throws -> Int32 {
            let process = BinaryProcess(executable: "/bin/sh")
            try process.start(arguments: ["-c", "exec sleep 60"])
            let pid = try #require(process.pid)
            #expect(ChildProcessRegistry.runningPIDs.contains(pid))
            return pid
        }
        let pid = try startAndRelease()
        #expect(await Eventually.wait(timeout: .seconds(20)) { kill(pid, 0) != 0 && errno == ESRCH })
        #expect(await Eventually.wait(timeout: .seconds(20)) { !ChildProcessRegistry.runningPIDs.contains(pid) })
    }

    @Test func locatesTheProductBinary() async throws {
        let path = try BinaryProcess.productBinaryPath()
        #expect(path.hasSuffix("/rivven-mqtt"))
        #expect(FileManager.default.isExecutableFile(atPath: path))
        let result = try await BinaryProcess().run(arguments: ["--help"], timeout: .seconds(60))
        #expect(result.status == 0)
        #expect(result.stdout.contains("rivven-mqtt"))
    }

    // MARK: MosquittoBroker + MQTTTool

    @Test func publishAndSubscribeThroughARealBroker() async throws {
        let broker = try await MosquittoBroker.start()
        #expect(broker.url == "mqtt://127.0.0.1:\(broker.port)")
        #expect(try MQTTTool.Endpoint(url: broker.url) == broker.endpoint())

        let subscription = try await MQTTTool.startSubscriber(to: broker.endpoint(), topics: ["harness/#"], qos: 1)
        let binary: [UInt8] = [0, 1, 2, 10, 13, 32, 127, 128, 255]
        try await MQTTTool.publish(to: broker.endpoint(), topic: "harness/text", message: "hello world", qos: 1)
        try await MQTTTool.publish(to: broker.endpoint(), topic: "harness/binary", payload: binary, qos: 1)
        try await MQTTTool.publish(to: broker.endpoint(), topic: "harness/empty", payload: [])
        try await MQTTTool.publish(
            to: broker.endpoint(protocolVersion: .v5),
            topic: "harness/v5 with space",
            message: "props",
            qos: 2,
            properties: [.userProperty("k", "v"), .contentType("text/plain")]
        )
        let messages = await subscription.waitForMessages(count: 4, timeout: .seconds(30))
        #expect(messages.map(\.topic) == ["harness/text", "harness/binary", "harness/empty", "harness/v5 with space"])
        #expect(messages.first?.text == "hello world")
        #expect(messages.first?.qos == 1)
        #expect(messages.dropFirst().first?.payload == binary)
        #expect(messages.dropFirst(2).first?.payload == [])
        #expect(messages.last?.text == "props")
        await subscription.stop()
        #expect(!subscription.isRunning)
        #expect(broker.log.contains("Received PUBLISH"))
        await broker.stop()
    }

    @Test func publishManyKeepsOrderAndRetainedMessagesClear() async throws {
        let broker = try await MosquittoBroker.start()
        let endpoint = broker.endpoint()
        let subscription = try await MQTTTool.startSubscriber(to: endpoint, topics: ["bulk"], qos: 1, count: 2000)
        let payloads = (0..<2000).map { "message-\($0)" }
        try await MQTTTool.publishMany(to: endpoint, topic: "bulk", messages: payloads, qos: 1)
        let received = await subscription.waitForMessages(count: 2000, timeout: .seconds(60))
        #expect(received.map(\.text) == payloads)
        #expect(await subscription.process.waitForExit(timeout: .seconds(20)) == 0)

        try await MQTTTool.publish(to: endpoint, topic: "state", message: "on", qos: 1, retain: true)
        let retained = try await MQTTTool.subscribe(to: endpoint, topic: "state", count: 1, timeout: .seconds(30))
        #expect(
            retained == [MQTTTool.ReceivedMessage(topic: "state", payload: Array("on".utf8), qos: 0, retained: true)]
        )
        try await MQTTTool.clearRetained(at: endpoint, topic: "state")
        // Nothing may arrive now; the short wait is only how long we look for a stray message.
        let none = try await MQTTTool.subscribe(to: endpoint, topic: "state", count: 1, timeout: .seconds(2))
        #expect(none.isEmpty)
        await broker.stop()
    }

    @Test func passwordAuthentication() async throws {
        let broker = try await MosquittoBroker.start(
            .init(allowAnonymous: false, users: [("alice", "secret"), ("bob", "hunter2")])
        )
        let alice = broker.endpoint(username: "alice", password: "secret")
        let subscription = try await MQTTTool.startSubscriber(to: alice, topics: ["auth"])
        try await MQTTTool.publish(
            to: broker.endpoint(username: "bob", password: "hunter2"),
            topic: "auth",
            message: "ok"
        )
        #expect(await subscription.waitForMessages(count: 1).map(\.text) == ["ok"])

        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(
                to: broker.endpoint(username: "alice", password: "wrong"),
                topic: "auth",
                message: "no"
            )
        }
        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(to: broker.endpoint(), topic: "auth", message: "anonymous")
        }
        await #expect(throws: HarnessError.self) {
            _ = try await MQTTTool.startSubscriber(
                to: broker.endpoint(username: "mallory", password: "x"),
                topics: ["#"]
            )
        }
        await subscription.stop()
        #expect(subscription.messages.map(\.text) == ["ok"])
        await broker.stop()
    }

    @Test func tlsListenerTrustsOnlyItsCA() async throws {
        let directory = try TemporaryDirectory()
        let material = try await TLSMaterial.generate(in: directory.path)
        let broker = try await MosquittoBroker.start(.init(tls: material))
        let tlsPort = try #require(broker.tlsPort)
        #expect(tlsPort != broker.port)
        #expect(broker.tlsURL == "mqtts://localhost:\(tlsPort)")

        let subscription = try await MQTTTool.startSubscriber(to: broker.tlsEndpoint(), topics: ["secure"])
        try await MQTTTool.publish(to: broker.tlsEndpoint(), topic: "secure", message: "over tls")
        // The plain listener is still there, and shares the broker.
        try await MQTTTool.publish(to: broker.endpoint(), topic: "secure", message: "over tcp")
        #expect(await subscription.waitForMessages(count: 2).map(\.text) == ["over tls", "over tcp"])

        // The IP address in the certificate works as a host name too.
        var byAddress = broker.tlsEndpoint()
        byAddress.host = "127.0.0.1"
        try await MQTTTool.publish(to: byAddress, topic: "secure", message: "by address")

        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(
                to: broker.tlsEndpoint(caFile: material.otherCACertificate),
                topic: "secure",
                message: "wrong CA"
            )
        }
        #expect(await subscription.waitForMessages(count: 3).map(\.text) == ["over tls", "over tcp", "by address"])
        await subscription.stop()
        await broker.stop()

        let expired = try await MosquittoBroker.start(.init(tls: material.withExpiredServerCertificate()))
        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(to: expired.tlsEndpoint(), topic: "secure", message: "expired")
        }
        await expired.stop()
    }

    @Test func mutualTLSRequiresAClientCertificateFromTheCA() async throws {
        let directory = try TemporaryDirectory()
        let material = try await TLSMaterial.generate(in: directory.path)
        let broker = try await MosquittoBroker.start(.init(tls: material, requireCertificate: true))

        try await MQTTTool.publish(to: broker.tlsEndpoint(clientCertificate: true), topic: "m", message: "with cert")
        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(to: broker.tlsEndpoint(), topic: "m", message: "without cert")
        }
        await #expect(throws: HarnessError.self) {
            try await MQTTTool.publish(
                to: broker.tlsEndpoint(certFile: material.otherClientCertificate, keyFile: material.otherClientKey),
                topic: "m",
                message: "cert from another CA"
            )
        }
        await broker.stop()
    }

    @Test func restartKeepsPortAndQueuedMessagesOfPersistentSessions() async throws {
        let broker = try await MosquittoBroker.start(.init(persistence: true))
        let port = broker.port
        let firstPID = try #require(broker.pid)

        // Create a persistent session, then go away.
        let session = try await MQTTTool.startSubscriber(
            to: broker.endpoint(),
            topics: ["queued/#"],
            qos: 1,
            clientID: "harness-persistent",
            cleanSession: false
        )
        await session.stop()
        try await MQTTTool.publish(to: broker.endpoint(), topic: "queued/a", message: "while away", qos: 1)

        try await broker.restart()
        #expect(broker.port == port)
        #expect(broker.pid != firstPID)
        #expect(kill(firstPID, 0) != 0)

        let queued = try await MQTTTool.subscribe(
            to: broker.endpoint(),
            topic: "queued/#",
            qos: 1,
            count: 1,
            clientID: "harness-persistent",
            cleanSession: false
        )
        #expect(queued.map(\.text) == ["while away"])
        #expect(queued.first?.qos == 1)
        await broker.stop()
    }

    @Test func killedBrokerKeepsWhatWasAutosaved() async throws {
        let broker = try await MosquittoBroker.start(.init(persistence: true, autosaveInterval: 1))
        let session = try await MQTTTool.startSubscriber(
            to: broker.endpoint(),
            topics: ["crash"],
            qos: 1,
            clientID: "harness-crash",
            cleanSession: false
        )
        await session.stop()
        try await MQTTTool.publish(to: broker.endpoint(), topic: "crash", message: "saved", qos: 1)
        // Wait for two autosaves after the publish, so the message is in the database on disk.
        func saves() -> Int { broker.currentRunLog.components(separatedBy: "Saving in-memory database").count - 1 }
        let savesBefore = saves()
        #expect(await Eventually.wait(timeout: .seconds(30)) { saves() >= savesBefore + 2 })

        await broker.kill()
        #expect(!broker.isRunning)
        try await broker.restart()
        let queued = try await MQTTTool.subscribe(
            to: broker.endpoint(),
            topic: "crash",
            qos: 1,
            count: 1,
            clientID: "harness-crash",
            cleanSession: false
        )
        #expect(queued.map(\.text) == ["saved"])
        await broker.stop()
    }

    @Test func stoppedAndKilledBrokersAreGone() async throws {
        let broker = try await MosquittoBroker.start()
        let pid = try #require(broker.pid)
        #expect(kill(pid, 0) == 0)
        await broker.stop()
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        #expect(broker.pid == nil)
        #expect(!ChildProcessRegistry.runningPIDs.contains(pid))
        #expect(broker.log.contains("terminating"))

        try await broker.restart()
        let secondPID = try #require(broker.pid)
        await broker.kill()
        #expect(kill(secondPID, 0) == -1 && errno == ESRCH)
        #expect(!TCPProbe.isAccepting(port: broker.port))

        // A broker that is simply released is killed by its deinit.
        func startAndRelease() async throws -> Int32 {
            let released = try await MosquittoBroker.start()
            return try #require(released.pid)
        }
        let releasedPID = try await startAndRelease()
        #expect(await Eventually.wait(timeout: .seconds(20)) { kill(releasedPID, 0) != 0 })
    }

    @Test func brokerThatCannotStartReportsWhy() async throws {
        let error = await #expect(throws: HarnessError.self) {
            _ = try await MosquittoBroker.start(.init(extraConfiguration: ["no_such_option true"]))
        }
        #expect(error?.message.contains("no_such_option") == true)
        #expect(error?.message.contains("--- configuration:") == true)
    }

    @Test func ipv6ListenerAndScopedBroker() async throws {
        try await MosquittoBroker.with(.init(ipv6: true)) { broker in
            var v6 = broker.endpoint()
            v6.host = "::1"
            let subscription = try await MQTTTool.startSubscriber(to: v6, topics: ["six"])
            try await MQTTTool.publish(to: broker.endpoint(), topic: "six", message: "from v4")
            #expect(await subscription.waitForMessages(count: 1).map(\.text) == ["from v4"])
            await subscription.stop()
        }
    }
}
