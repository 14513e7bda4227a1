import FastIngest
import Foundation
import Glibc
import Testing

/// The hidden `rivven-mqtt test-server` subcommand as a script uses it: started with `--port 0`, the port read from
/// its stderr line, report lines and the final statistics line read from its stdout, stopped with SIGTERM.
@Suite("test-server command", .timeLimit(.minutes(5)))
struct TestServerCommandTests {
    /// A running `test-server` process and the port it reported.
    struct Server {
        let process: BinaryProcess
        let port: UInt16

        /// Starts `rivven-mqtt test-server --port 0 …` and waits for its "listening" line.
        static func start(_ arguments: [String]) async throws -> Server {
            let process = BinaryProcess(executable: try BinaryProcess.productBinaryPath())
            try process.start(arguments: ["test-server", "--port", "0"] + arguments)
            let prefix = "rivven test server listening on 127.0.0.1:"
            let listening = await process.waitForStderr(containing: prefix)
            try #require(listening, "no listening line; stderr:\n\(process.stderrText)")
            let line = process.stderrLines.first { $0.hasPrefix(prefix) } ?? ""
            let port = try #require(UInt16(line.dropFirst(prefix.count)), "no port in '\(line)'")
            return Server(process: process, port: port)
        }

        /// Every stdout line, parsed (a line that is not a JSON object fails the test).
        var lines: [[String: Any]] {
            process.stdoutLines.map { line in
                let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
                #expect(object != nil, "stdout line is not a JSON object: \(line)")
                return object ?? [:]
            }
        }

        /// The report lines so far (the final line excluded).
        var reports: [[String: Any]] { lines.filter { $0["final"] == nil } }

        /// Waits until a report line says `records` ≥ `count`, and returns it.
        func waitForReport(records count: Int, timeout: Duration = .seconds(60)) async -> [String: Any]? {
            var found: [String: Any]?
            await Eventually.wait(timeout: timeout, interval: .milliseconds(20)) {
                found = reports.last { ($0["records"] as? Int ?? 0) >= count }
                return found != nil || !process.isRunning
            }
            return found
        }

        /// SIGTERM; expects exit 0 and returns the final statistics line.
        func stop() async throws -> [String: Any] {
            process.signal(SIGTERM)
            let status = await process.waitForExit(timeout: .seconds(30))
            #expect(status == 0, "stderr:\n\(process.stderrText)")
            let final = try #require(lines.last, "no stdout at all")
            #expect(final["final"] as? Bool == true, "last line is not the final line: \(final)")
            return final
        }
    }

    /// Checks what every report line must satisfy: exactly the four fields, `t` a CLOCK_MONOTONIC reading that
    /// increases, the counters never decreasing.
    static func checkReports(_ reports: [[String: Any]], startedAt: Double) {
        var previous: (t: Double, records: Int, duplicates: Int, requests: Int)?
        for report in reports {
            #expect(Set(report.keys) == ["t", "records", "duplicates", "requests"], "\(report)")
            guard let t = report["t"] as? Double, let records = report["records"] as? Int,
                let duplicates = report["duplicates"] as? Int, let requests = report["requests"] as? Int
            else {
                Issue.record("report line with a missing or non-numeric field: \(report)")
                continue
            }
            #expect(t >= startedAt && t <= monotonicSeconds(), "t \(t) is not a CLOCK_MONOTONIC reading of the run")
            if let previous {
                #expect(t > previous.t)
                #expect(records >= previous.records && duplicates >= previous.duplicates)
                #expect(requests >= previous.requests)
            }
            previous = (t, records, duplicates, requests)
        }
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func product(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await BinaryProcess(executable: try BinaryProcess.productBinaryPath()).run(arguments: arguments)
    }

    /// Help text with line breaks and indentation folded to single spaces.
    static func folded(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }

    @Test func hiddenFromTheRootHelpButDocumentedInItsOwn() async throws {
        for arguments in [["--help"], ["help"]] {
            let root = try await Self.product(arguments)
            #expect(root.status == 0)
            #expect(root.stdout.contains("run"), "\(root.stdout)")
            #expect(!root.stdout.contains("test-server"), "root help lists the hidden subcommand:\n\(root.stdout)")
        }
        let own = try await Self.product(["test-server", "--help"])
        #expect(own.status == 0)
        let text = Self.folded(own.stdout)
        #expect(
            text.contains(
                "in-memory Rivven stand-in for trying and benchmarking rivven-mqtt without a Rivven broker; not a "
                    + "broker: nothing is persisted"
            ),
            "\(own.stdout)"
        )
        for option in ["--host", "--port", "--partitions", "--no-retain", "--report-ms", "--user"] {
            #expect(own.stdout.contains(option), "\(option) missing from:\n\(own.stdout)")
        }
        let bad = try await Self.product(["test-server", "--user", "no-colon"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("NAME:PASSWORD"), "\(bad.stderr)")
    }

    @Test func clientsAuthenticatePublishAndAreCountedInReportsAndTheFinalLine() async throws {
        let startedAt = Self.monotonicSeconds()
        let server = try await Server.start([
            "--report-ms", "20", "--partitions", "2", "--user", "alice:s3cr:et", "--user", "bob:pw",
        ])
        let address = "127.0.0.1:\(server.port)"

        // --user makes authentication required: a publish before it is refused.
        let anonymous = try RivvenClient(server: address)
        let refused = try anonymous.send(.publish(topic: "t", partition: nil, key: nil, value: [1], leaderEpoch: nil))
        guard case .error = refused else {
            Issue.record("an unauthenticated publish was answered \(refused)")
            return
        }
        #expect(throws: RivvenClient.Failure.self) {
            try RivvenClient(server: address).authenticate(username: "alice", password: "wrong")
        }

        // The password is everything after the first colon.
        let client = try RivvenClient(server: address)
        try client.handshake(clientID: "test-server-tests")
        try client.authenticate(username: "alice", password: "s3cr:et")
        for i in 0..<5 {
            let reply = try client.send(
                .publish(topic: "auto", partition: nil, key: Array("k\(i)".utf8), value: [UInt8(i)], leaderEpoch: nil)
            )
            guard case .published = reply else {
                Issue.record("publish answered \(reply)")
                return
            }
        }
        // An idempotent publish sent twice: stored once, the resend counted as a duplicate.
        guard case .producerIDInitialized(let id, let epoch) = try client.send(.initProducerID(producerID: nil)) else {
            Issue.record("InitProducerId failed")
            return
        }
        let idempotent = RivvenRequest.idempotentPublish(
            topic: "auto",
            partition: 1,
            key: nil,
            value: Array("once".utf8),
            producerID: id,
            producerEpoch: epoch,
            sequence: 0,
            leaderEpoch: nil
        )
        let first = try client.send(idempotent)
        let resent = try client.send(idempotent)
        guard case .idempotentPublished(let offset, 1, false) = first else {
            Issue.record("first idempotent publish answered \(first)")
            return
        }
        #expect(resent == .idempotentPublished(offset: offset, partition: 1, duplicate: true))

        let reported = await server.waitForReport(records: 6)
        #expect(reported?["duplicates"] as? Int == 1, "\(String(describing: reported))")
        // A quiet server keeps reporting on schedule.
        let before = server.reports.count
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.reports.count >= before + 5, "\(server.reports.count - before) reports in 300 ms at 20 ms")

        let final = try await server.stop()
        Self.checkReports(server.reports, startedAt: startedAt)
        #expect(final["records"] as? Int == 6)
        #expect(final["duplicates"] as? Int == 1)
        let kinds = try #require(final["requests_by_kind"] as? [String: Int], "\(final)")
        #expect(kinds["Publish"] == 6, "the refused one is counted too: \(kinds)")
        #expect(kinds["IdempotentPublish"] == 2)
        #expect(final["requests"] as? Int == kinds.values.reduce(0, +))
        // Auto-created with --partitions 2; the five keyed records and the idempotent one, by partition.
        let offsets = try #require((final["topics"] as? [String: [Int]])?["auto"], "\(final)")
        #expect(offsets.count == 2)
        #expect(offsets.reduce(0, +) == 6)
        #expect(offsets[1] == Int(offset) + 1)
        let lastReport = try #require(server.reports.last)
        #expect((final["t"] as? Double ?? 0) >= (lastReport["t"] as? Double ?? .infinity))
    }

    @Test func aGatewayForwardsEveryMessageToIt() async throws {
        let startedAt = Self.monotonicSeconds()
        let server = try await Server.start(["--no-retain", "--report-ms", "50"])
        try await MosquittoBroker.with { broker in
            let yaml =
                Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["seq/#"],
                    extra: ["qos: at_least_once", "client_id: gw-test-server"]
                ) + "broker:\n  bootstrap_servers: [\"127.0.0.1:\(server.port)\"]\n"
            let gateway = try Gateway(yaml: yaml)
            try await gateway.start()
            let total = 3000
            try await MQTTTool.publishMany(
                to: broker.endpoint(),
                topic: "seq/n",
                messages: (1...total).map(String.init),
                qos: 1
            )
            let reported = await server.waitForReport(records: total)
            #expect(reported?["records"] as? Int == total, "stderr:\n\(gateway.process.stderrText)")
            #expect(await gateway.stop() == 0)
            let final = try await server.stop()
            Self.checkReports(server.reports, startedAt: startedAt)
            #expect(final["records"] as? Int == total)
            #expect(final["duplicates"] as? Int == 0)
            let kinds = final["requests_by_kind"] as? [String: Int] ?? [:]
            #expect((kinds["IdempotentPublishBatch"] ?? 0) >= 1, "\(kinds)")
            // --no-retain still counts offsets per partition.
            let offsets = (final["topics"] as? [String: [Int]])?["iot-events"] ?? []
            #expect(offsets.reduce(0, +) == total, "\(final)")
        }
    }
}
