import Foundation
import Glibc
import Testing

/// `--log-format json` as a log shipper (journald → Vector, Fluent Bit, Promtail) reads it: every stderr line is one
/// JSON object with `ts`, `level`, `logger`, `msg` and the metadata as top-level string fields.
@Suite("logging", .timeLimit(.minutes(3)))
struct LoggingTests {
    /// Whether `text` is RFC 3339 in UTC with a fraction, as the gateway writes `ts`.
    private static func isTimestamp(_ text: String) -> Bool {
        text.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z/) != nil
    }

    @Test func everyJSONLineIsOneObjectWithTimeLevelMessageAndMetadata() async throws {
        // A topic with characters JSON must escape, on a message that is logged with its topic (oversize).
        let topic = #"odd/"quoted"\back\slash/ü/🚀"#
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["odd/#"],
                    extra: ["qos: 1", "client_id: json-logs", "max_payload_bytes: 16"]
                )
            )
            try await gateway.start(extraArguments: ["--log-format", "json", "--log-level", "debug"])
            try await MQTTTool.publish(
                to: broker.endpoint(),
                topic: topic,
                message: String(repeating: "x", count: 64),
                qos: 1
            )
            #expect(await gateway.process.waitForStderr(containing: "larger than max_payload_bytes"))
            #expect(await gateway.stop() == 0)

            let lines = gateway.process.stderrLines.filter { !$0.isEmpty }
            #expect(lines.count >= 5)
            var objects: [[String: Any]] = []
            for line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    Issue.record("not one JSON object: \(line)")
                    continue
                }
                objects.append(object)
                let ts = object["ts"] as? String ?? ""
                #expect(Self.isTimestamp(ts), "ts: \(line)")
                #expect(
                    ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(
                        object["level"] as? String ?? ""
                    ),
                    "level: \(line)"
                )
                #expect(object["logger"] as? String == "rivven-mqtt", "logger: \(line)")
                #expect((object["msg"] as? String).map { !$0.isEmpty } == true, "msg: \(line)")
                // Metadata values are strings, so a shipper can index them without a schema per message.
                #expect(object.values.allSatisfy { $0 is String }, "non-string field: \(line)")
            }
            let oversize = try #require(objects.first { ($0["msg"] as? String)?.contains("max_payload_bytes") == true })
            #expect(oversize["level"] as? String == "warning")
            #expect(oversize["mqtt.topic"] as? String == topic)
            #expect(oversize["source"] as? String == "mqtt-source")
            #expect(oversize["payload_bytes"] as? String == "64")
            let subscribed = try #require(objects.first { $0["msg"] as? String == "MQTT subscribed" })
            #expect(subscribed["mqtt.client_id"] as? String == "json-logs")
            // The stop line carries the metrics snapshot as JSON text.
            let stopped = try #require(objects.first { $0["msg"] as? String == "stopped" })
            let metrics = try #require(stopped["metrics"] as? String)
            let snapshot = try JSONSerialization.jsonObject(with: Data(metrics.utf8)) as? [String: Any]
            #expect(snapshot?["messages_received"] as? Int == 1)
        }
    }
}
