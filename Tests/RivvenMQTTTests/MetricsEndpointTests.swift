import FastIngest
import Foundation
import Glibc
import Testing

/// The `metrics.listen` endpoint of `run` (SPEC §7) and the graceful stop (SPEC §4), end to end: the built binary
/// against a real mosquitto, read over HTTP as Prometheus and an orchestrator would.
@Suite("metrics endpoint", .timeLimit(.minutes(5)))
struct MetricsEndpointTests {
    /// `GET path` until `condition` holds for the response (or the liveness timeout passes); the last response.
    static func waitForResponse(
        _ gateway: Gateway,
        _ path: String,
        timeout: Duration = .seconds(30),
        until condition: (HTTPClient.Response) -> Bool
    ) async -> HTTPClient.Response? {
        var last: HTTPClient.Response?
        _ = await Eventually.wait(timeout: timeout, interval: .milliseconds(100)) {
            last = try? await gateway.http(path)
            return last.map(condition) ?? false
        }
        return last
    }

    /// The reasons of a 503 from `/ready`.
    static func reasons(_ response: HTTPClient.Response?) -> [String] {
        (response?.json?["reasons"] as? [String]) ?? []
    }

    /// Publishes N messages of assorted sizes: `/metrics` counts exactly N messages, their payload bytes, N records
    /// written and N latencies; `/metrics.json` says the same; the other paths answer as documented.
    @Test func countersEqualWhatWasPublished() async throws {
        try await MosquittoBroker.with { broker in
            let total = 300
            let messages = (1...total).map { String(repeating: "m", count: $0 % 41) + "#\($0)" }
            let payloadBytes = messages.reduce(0) { $0 + $1.utf8.count }
            // An explicit port, as a user writes it. Another process may take a free port between the probe and
            // the gateway's bind: then the gateway says so (EADDRINUSE) and the test takes another.
            var gateway: Gateway?
            var port = 0
            for _ in 0..<3 {
                port = FreePort.allocate()
                let candidate = try Gateway(
                    yaml: Gateway.connectorYAML(url: broker.url, topics: ["count/#"], extra: ["qos: 1"])
                        + "metrics:\n  listen: 127.0.0.1:\(port)\n"
                )
                try await candidate.start(waitForSubscription: false)
                if await candidate.process.waitForStderr(containing: "MQTT subscribed") {
                    gateway = candidate
                    break
                }
                try #require(candidate.process.stderrText.contains("EADDRINUSE"), "\(candidate.process.stderrText)")
            }
            let running = try #require(gateway)
            #expect(running.metricsPort == port)
            let pid = try #require(running.process.pid)
            #expect(ListeningSockets.ports(ofProcess: pid) == [port])

            let before = HTTPClient.samples(try await running.http("/metrics").body)
            #expect(before["rivven_mqtt_source_messages_received_total"] == 0)
            try await MQTTTool.publishMany(to: broker.endpoint(), topic: "count/n", messages: messages, qos: 1)
            let settled = await Self.waitForResponse(running, "/metrics") { response in
                HTTPClient.samples(response.body)["rivven_mqtt_source_records_written_total"] == Double(total)
            }
            let metrics = try #require(settled)
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            let samples = HTTPClient.samples(metrics.body)
            func value(_ name: String) -> Double? { samples["rivven_mqtt_source_" + name] }
            #expect(value("messages_received_total") == Double(total))
            #expect(value("bytes_received_total") == Double(payloadBytes))
            #expect(value("records_written_total") == Double(total))
            #expect(value("end_to_end_latency_seconds_count") == Double(total))
            #expect(value("connections_total") == 1)
            #expect(value("disconnections_total") == 0)
            #expect(value("errors_total") == 0)
            for reason in ["ring_full", "too_large", "unwritable", "not_forwarded"] {
                #expect(value("messages_dropped_total{reason=\"\(reason)\"}") == 0, "\(reason)")
            }
            #expect((value("log_bytes") ?? 0) > Double(payloadBytes))
            #expect((value("receive_latency_avg_ms") ?? 0) > 0)
            let p50 = try #require(value("end_to_end_latency_seconds{quantile=\"0.5\"}"))
            let p99 = try #require(value("end_to_end_latency_seconds{quantile=\"0.99\"}"))
            #expect(p50 > 0 && p50 <= p99)
            for seed in [
                "messages_received_total counter", "bytes_received_total counter", "connections_total counter",
                "disconnections_total counter", "errors_total counter", "receive_latency_avg_ms gauge",
            ] {
                #expect(metrics.body.contains("\n# TYPE rivven_mqtt_source_\(seed)\n"), "\(seed)")
            }

            let json = try await running.http("/metrics.json")
            #expect(json.status == 200)
            #expect(json.headers["content-type"] == "application/json; charset=utf-8")
            let object = try #require(json.json, "\(json.body)")
            #expect(object["messages_received"] as? Int == total)
            #expect(object["bytes_received"] as? Int == payloadBytes)
            #expect(object["records_written"] as? Int == total)
            #expect(object["end_to_end_latency_count"] as? Int == total)
            #expect(json.body.hasPrefix(#"{"messages_received":\#(total),"bytes_received":\#(payloadBytes),"#))

            let health = try await running.http("/health")
            #expect(health.status == 200 && health.body == "{\"status\":\"ok\"}\n")
            let ready = try await running.http("/ready")
            #expect(ready.status == 200 && ready.body == "{\"ready\":true}\n")
            #expect(try await running.http("/metrics?scrape=1").status == 200)
            let unknown = try await running.http("/nope")
            #expect(unknown.status == 404)
            #expect(unknown.json?["paths"] as? [String] == ["/metrics", "/metrics.json", "/health", "/ready"])
            let post = try await running.http("/metrics", method: "POST")
            #expect(post.status == 405 && post.headers["allow"] == "GET")
            #expect(await running.stop() == 0)
        }
    }

    /// `/ready` is 503 naming MQTT while the broker is down, and 200 again once the gateway reconnected and
    /// subscribed; `/health` stays 200 throughout. The names follow `metrics.prefix`.
    @Test func readyFollowsTheBroker() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["r/#"],
                    extra: ["qos: 1", "retry_initial_ms: 50", "retry_max_ms: 500"]
                ) + "metrics:\n  listen: \"127.0.0.1:0\"\n  prefix: edge_gw2\n"
            )
            try await gateway.start()
            let up = await Self.waitForResponse(gateway, "/ready") { $0.status == 200 }
            #expect(up?.body == "{\"ready\":true}\n")
            #expect(try await gateway.http("/metrics").body.contains("\nedge_gw2_mqtt_source_connections_total 1\n"))

            await broker.stop()
            let down = await Self.waitForResponse(gateway, "/ready") { $0.status == 503 }
            #expect(down?.status == 503)
            #expect(down?.json?["ready"] as? Bool == false)
            #expect(
                Self.reasons(down).contains("mqtt: not connected (source mqtt-source, connection 0)"),
                "\(down?.body ?? "no answer")"
            )
            #expect(try await gateway.http("/health").status == 200)

            try await broker.restart()
            let back = await Self.waitForResponse(gateway, "/ready") { $0.status == 200 }
            #expect(back?.status == 200, "\(back?.body ?? "no answer")\n\(gateway.process.stderrText)")
            let samples = HTTPClient.samples(try await gateway.http("/metrics").body)
            #expect(samples["edge_gw2_mqtt_source_disconnections_total"] == 1)
            #expect((samples["edge_gw2_mqtt_source_reconnects_total"] ?? 0) >= 1)
            #expect(await gateway.stop() == 0)
        }
    }

    /// A broker that grants less than the requested QoS: the gateway ingests, but `/ready` says it is not what was
    /// asked for.
    @Test func readyNamesAQoSDowngrade() async throws {
        try await MosquittoBroker.with(MosquittoBroker.Options(listenerConfiguration: ["max_qos 1"])) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["d/#"], extra: ["qos: exactly_once"])
            )
            try await gateway.start()
            let ready = await Self.waitForResponse(gateway, "/ready") { $0.status == 503 }
            #expect(
                Self.reasons(ready).contains(
                    "mqtt: subscription not granted at requested QoS 2 (source mqtt-source, connection 0)"
                ),
                "\(ready?.body ?? "no answer")"
            )
            #expect(
                HTTPClient.samples(try await gateway.http("/metrics").body)["rivven_mqtt_source_qos_downgrades_total"]
                    == 1
            )
            #expect(await gateway.stop() == 0)
        }
    }

    /// With a `broker:` section: `/ready` is 503 "rivven: not connected" while Rivven refuses connections, adds
    /// "log: full" once the local log reached `log.max_bytes`, and is 200 once Rivven took the backlog.
    @Test func readyNamesRivvenAndAFullLog() async throws {
        let server = RivvenTestServer()
        let port = try server.start()
        defer { server.stop() }
        server.faults.refuseConnections(true)
        try await MosquittoBroker.with { broker in
            let gateway = try ForwardTests.smallLogGateway(mqtt: broker.url, rivven: port)
            try await gateway.start()
            let refused = await Self.waitForResponse(gateway, "/ready") {
                Self.reasons($0).contains("rivven: not connected (source mqtt-source)")
            }
            #expect(refused?.status == 503, "\(refused?.body ?? "no answer")")
            #expect(Self.reasons(refused) == ["rivven: not connected (source mqtt-source)"])

            let publisher = ForwardTests.publishPadded(1500, to: broker)
            let full = await Self.waitForResponse(gateway, "/ready", timeout: .seconds(60)) {
                Self.reasons($0).contains { $0.hasPrefix("log: full") }
            }
            #expect(
                Self.reasons(full).contains("log: full (log.max_bytes), waiting for Rivven (source mqtt-source)"),
                "\(full?.body ?? "no answer")\n\(gateway.process.stderrText)"
            )
            let lagging = HTTPClient.samples(try await gateway.http("/metrics").body)
            #expect((lagging["rivven_mqtt_source_forwarder_lag_records"] ?? 0) > 0)
            #expect((lagging["rivven_mqtt_source_log_bytes"] ?? 0) >= 1_048_576)
            #expect(lagging["rivven_mqtt_source_rivven_connected"] == 0)

            server.faults.refuseConnections(false)
            try await publisher.value
            let ready = await Self.waitForResponse(gateway, "/ready", timeout: .seconds(90)) { $0.status == 200 }
            #expect(ready?.status == 200, "\(ready?.body ?? "no answer")")
            let caughtUp = await Self.waitForResponse(gateway, "/metrics", timeout: .seconds(90)) {
                let samples = HTTPClient.samples($0.body)
                return samples["rivven_mqtt_source_records_written_total"] == 1500
                    && samples["rivven_mqtt_source_forwarder_lag_records"] == 0
            }
            let samples = HTTPClient.samples(caughtUp?.body ?? "")
            #expect(samples["rivven_mqtt_source_forwarder_lag_records"] == 0, "\(caughtUp?.body ?? "no answer")")
            #expect((samples["rivven_mqtt_source_rivven_records_forwarded_total"] ?? 0) >= 1500)
            #expect(samples["rivven_mqtt_source_rivven_connected"] == 1)
            #expect(await gateway.stop() == 0)
        }
    }

    /// A log that cannot be written (a file-size limit: every write past it fails with EFBIG, as on a full disk):
    /// `/ready` is 503 naming the log and the error until the limit is lifted and the writes succeed again.
    @Test func readyNamesAnUnwritableLog() async throws {
        let prlimit = try #require(BinaryProcess.which("prlimit"), "prlimit (util-linux) is required")
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["w/#"], extra: ["qos: 1"])
            )
            try await gateway.start()
            let pid = try #require(gateway.process.pid)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "w/first", message: "durable", qos: 1)
            #expect(await gateway.waitForRecords(1).count == 1)
            #expect(await Self.waitForResponse(gateway, "/ready") { $0.status == 200 } != nil)
            let segment = try #require(
                try FileManager.default.contentsOfDirectory(atPath: gateway.logDirectory).first { $0.hasSuffix(".log") }
            )
            let size = try #require(
                try FileManager.default.attributesOfItem(atPath: gateway.logDirectory + "/" + segment)[.size] as? Int
            )
            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=\(size):unlimited"])
            try await MQTTTool.publish(to: broker.endpoint(), topic: "w/held", message: "waits", qos: 1)
            let failing = await Self.waitForResponse(gateway, "/ready") { $0.status == 503 }
            let reason = Self.reasons(failing).first { $0.hasPrefix("log: not writable (source mqtt-source)") }
            #expect(reason != nil, "\(failing?.body ?? "no answer")")
            #expect(reason?.contains("File too large") == true, "\(reason ?? "")")
            let errors = HTTPClient.samples(try await gateway.http("/metrics").body)[
                "rivven_mqtt_source_write_errors_total"
            ]
            #expect((errors ?? 0) >= 1)

            _ = try await BinaryProcess.runChecked(prlimit, ["--pid", "\(pid)", "--fsize=unlimited:unlimited"])
            let recovered = await Self.waitForResponse(gateway, "/ready", timeout: .seconds(60)) { $0.status == 200 }
            #expect(recovered?.status == 200, "\(recovered?.body ?? "no answer")")
            #expect(await gateway.waitForRecords(2).count == 2)
            #expect(await gateway.stop() == 0)
        }
    }

    /// `metrics.listen: off` opens no listening socket at all; an address already in use is a start-up error that
    /// names it and the errno, before anything connects.
    @Test func offListensNowhereAndABusyAddressIsAStartupError() async throws {
        try await MosquittoBroker.with { broker in
            let off = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["o/#"]) + "metrics:\n  listen: off\n"
            )
            try await off.start()
            let pid = try #require(off.process.pid)
            #expect(ListeningSockets.ports(ofProcess: pid) == [])
            #expect(!off.process.stderrText.contains("metrics endpoint listening"))
            #expect(await off.stop() == 0)

            let holder = try ListeningSocket()
            defer { holder.close() }
            let busy = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["o/#"])
                    + "metrics:\n  listen: 127.0.0.1:\(holder.port)\n"
            )
            try await busy.start(waitForSubscription: false)
            #expect(await busy.process.waitForExit() == 1)
            let stderr = busy.process.stderrText
            #expect(stderr.contains("cannot listen on metrics.listen 127.0.0.1:\(holder.port)"), "\(stderr)")
            #expect(stderr.contains("Address already in use (EADDRINUSE, errno \(EADDRINUSE))"), "\(stderr)")
            #expect(!stderr.contains("MQTT connected"), "\(stderr)")
        }
    }

    /// SIGTERM while a publisher floods QoS 1 into a persistent session: the gateway drains and exits 0 with every
    /// message it took written; a restart gets the rest from the broker; every message is in the log, which needed
    /// no repair.
    @Test func sigtermUnderLoadExitsZeroAndLosesNothing() async throws {
        try await MosquittoBroker.with(MosquittoBroker.Options(maxInflight: 100)) { broker in
            let total = 10_000
            let started = try await Gateway.startUnderNumberedFlood(
                broker: broker,
                filter: "flood/#",
                topic: "flood/n",
                clientID: "gw-sigterm",
                total: total
            )
            var gateway = started.gateway
            let directory = gateway.directory
            // Under load: messages are flowing when the signal comes.
            let flowing = await Self.waitForResponse(gateway, "/metrics", timeout: .seconds(60)) {
                (HTTPClient.samples($0.body)["rivven_mqtt_source_messages_received_total"] ?? 0) >= 500
            }
            #expect(flowing != nil)
            gateway.process.signal(SIGTERM)
            #expect(await gateway.process.waitForExit() == 0, "\(gateway.process.stderrText)")
            let stopped = try #require(gateway.process.stderrLines.last { $0.contains(" stopped ") })
            func field(_ name: String) -> Int? {
                stopped.components(separatedBy: " ").first { $0.hasPrefix(name + "=") }
                    .flatMap { Int($0.dropFirst(name.count + 1)) }
            }
            let received = try #require(field("messages_received"))
            #expect(received > 0)
            #expect(field("records_written") == received, "taken but not written: \(stopped)")
            #expect(field("dropped") == 0)

            gateway = Gateway(reusing: directory)
            try await gateway.start()
            try await started.publisher.value
            let all = await gateway.expectEveryNumber(upTo: total)
            #expect(!gateway.process.stderrText.contains("torn tail"), "\(gateway.process.stderrText)")
            #expect(await gateway.stop() == 0)
            print("SIGTERM under load: \(received) taken before the stop, \(all.count - total) duplicates in the log")
        }
    }

    /// A drain that cannot finish (the output is a FIFO nobody reads): the endpoint stays up while the pipeline
    /// drains (`/ready` 503 "pipeline: stopping", `/health` 200), and after the 10 s budget of SPEC §4 the gateway
    /// exits 1 saying why, without a second signal.
    @Test func aStuckDrainEndsAfterItsTimeout() async throws {
        try await MosquittoBroker.with { broker in
            try await Gateway.withStuckOutput(broker: broker) { gateway in
                gateway.process.signal(SIGTERM)
                #expect(await gateway.process.waitForStderr(containing: "stopping gracefully"))
                let draining = try await gateway.http("/ready")
                #expect(draining.status == 503)
                #expect(Self.reasons(draining).contains("pipeline: stopping"), "\(draining.body)")
                #expect(try await gateway.http("/health").status == 200)
                #expect(await gateway.process.waitForExit(timeout: .seconds(60)) == 1)
                #expect(
                    gateway.process.stderrText.contains("the graceful drain did not finish within 10 s"),
                    "\(gateway.process.stderrText)"
                )
            }
        }
    }
}

/// A socket listening on a free loopback port, to make that port busy.
final class ListeningSocket {
    let fd: Int32
    let port: Int

    init() throws {
        for _ in 0..<20 {
            let port = FreePort.allocate()
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { break }
            var address = LoopbackAddress.ipv4(port: port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0 && listen(fd, 8) == 0 {
                self.fd = fd
                self.port = port
                return
            }
            Glibc.close(fd)
        }
        throw HarnessError("no loopback port could be bound and listened on (errno \(errno))")
    }

    func close() {
        Glibc.close(fd)
    }
}
