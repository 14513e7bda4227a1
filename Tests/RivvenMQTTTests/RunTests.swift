import Foundation
import Glibc
import Testing

/// `rivven-mqtt run` end to end against a real mosquitto: what a user publishes is what the gateway writes.
@Suite("run", .timeLimit(.minutes(5)))
struct RunTests {
    @Test func writesTheRivvenConnectEnvelope() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["sensors/#"],
                    extra: ["qos: at_least_once", "client_id: rivven-gw-1"]
                )
            )
            try await gateway.start()
            try await MQTTTool.publish(
                to: broker.endpoint(),
                topic: "sensors/room1/temperature",
                message: #"{"c": 21.5, "unit":"C"}"#,
                qos: 1
            )
            let records = await gateway.waitForRecords(1)
            try #require(records.count == 1, "stderr: \(gateway.process.stderrText)")
            let line = await gateway.valueLines()[0]
            #expect(line.hasPrefix(#"{"event_type":"record","stream":"sensors_room1_temperature","namespace":null,"#))
            #expect(line.contains(#""payload":{"c":21.5,"unit":"C"},"qos":1,"retain":false,"#))
            #expect(line.contains(#""metadata":{"client_id":"rivven-gw-1","broker":"\#(broker.url)","message_id":1,"#))
            #expect(
                line.hasSuffix(#""metadata":{"position":"1","mqtt.topic":"sensors/room1/temperature","mqtt.qos":1}}"#)
            )
            let record = records[0]
            #expect(record[path: "data", "topic"] as? String == "sensors/room1/temperature")
            #expect((record[path: "data", "metadata", "pkid"] as? Int ?? 0) > 0)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func wildcardsMatchAtEveryPosition() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["a/+/c", "+/x/#", "z/#", "done"])
            )
            try await gateway.start()
            let topics = ["a/b/c", "a/b/d", "q/x", "q/x/y/z", "z", "z/1/2", "w/y", "a/b/c/d", "done"]
            for topic in topics {
                try await MQTTTool.publish(to: broker.endpoint(), topic: topic, message: topic, qos: 1)
            }
            let expected = ["a/b/c", "q/x", "q/x/y/z", "z", "z/1/2", "done"]
            let records = await gateway.waitForRecords(expected.count)
            #expect(records.compactMap { $0[path: "data", "topic"] as? String } == expected)
            #expect(await gateway.stop() == 0)
            #expect(await gateway.records().count == expected.count)
        }
    }

    @Test(arguments: [0, 1, 2])
    func deliveredQoSIsTheMinimumOfPublishAndSubscription(subscribed: Int) async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["q/#"], extra: ["qos: \(subscribed)"])
            )
            try await gateway.start()
            for published in 0...2 {
                try await MQTTTool.publish(to: broker.endpoint(), topic: "q/\(published)", message: "m", qos: published)
            }
            let records = await gateway.waitForRecords(3)
            try #require(records.count == 3)
            for record in records {
                let published = Int((record[path: "data", "topic"] as! String).dropFirst(2))!
                #expect(record[path: "data", "qos"] as? Int == min(published, subscribed))
                #expect(record[path: "metadata", "mqtt.qos"] as? Int == min(published, subscribed))
            }
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func retainedMessagesArriveWithTheRetainFlag() async throws {
        try await MosquittoBroker.with { broker in
            try await MQTTTool.publish(to: broker.endpoint(), topic: "r/state", message: "on", qos: 1, retain: true)
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["r/#"], extra: ["qos: 1"]))
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "r/live", message: "x", qos: 1)
            let records = await gateway.waitForRecords(2)
            try #require(records.count == 2)
            #expect(records[0][path: "data", "topic"] as? String == "r/state")
            #expect(records[0][path: "data", "retain"] as? Bool == true)
            #expect(records[1][path: "data", "retain"] as? Bool == false)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func binaryEmptyAndTextPayloadsKeepTheirBytes() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["p/#"], extra: ["qos: 1"]))
            try await gateway.start()
            let binary: [UInt8] = [0xFF, 0x00, 0x01, 0x80, 0x0A, 0xC3]
            try await MQTTTool.publish(to: broker.endpoint(), topic: "p/binary", payload: binary, qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "p/empty", payload: [], qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "p/text", message: "hello, world", qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "p/number", message: "42", qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "p/broken-json", message: #"{"a":"#, qos: 1)
            let records = await gateway.waitForRecords(5)
            try #require(records.count == 5)
            let b64 = try #require(records[0][path: "data", "payload_b64"] as? String)
            #expect(Data(base64Encoded: b64).map(Array.init) == binary)
            #expect(records[1][path: "data", "payload"] as? String == "")
            #expect(records[1][path: "data", "payload_b64"] == nil)
            #expect(records[2][path: "data", "payload"] as? String == "hello, world")
            #expect(records[3][path: "data", "payload"] as? Int == 42)
            #expect(records[4][path: "data", "payload"] as? String == #"{"a":"#)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func oversizePayloadsAreKeptCountedAndLogged() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["big/#"],
                    extra: ["qos: 1", "max_payload_bytes: 1024"]
                )
            )
            try await gateway.start()
            let big = String(repeating: "z", count: 5000)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "big/one", message: big, qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "big/small", message: "ok", qos: 1)
            let records = await gateway.waitForRecords(2)
            #expect(records.first?[path: "data", "payload"] as? String == big)
            #expect(records.last?[path: "data", "payload"] as? String == "ok")
            #expect(gateway.process.stderrText.contains("message larger than max_payload_bytes"))
            #expect(gateway.process.stderrText.contains("payload_bytes=5000"))
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func specialCharacterTopicsAreKeptVerbatim() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["#"], extra: ["qos: 1"]))
            try await gateway.start()
            let topic = #"plant 1/äöü/"quoted"/back\slash/$dollar/日本"#
            try await MQTTTool.publish(to: broker.endpoint(), topic: topic, message: "v", qos: 1)
            let records = await gateway.waitForRecords(1)
            try #require(records.count == 1)
            #expect(records[0][path: "data", "topic"] as? String == topic)
            #expect(records[0][path: "stream"] as? String == topic.replacingOccurrences(of: "/", with: "_"))
            #expect(records[0][path: "metadata", "mqtt.topic"] as? String == topic)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test(arguments: ["v3", "v311", "v5"])
    func everyProtocolVersionDelivers(version: String) async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(
                    url: broker.url,
                    topics: ["v/#"],
                    extra: ["qos: 1", "mqtt_version: \(version)"]
                )
            )
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "v/1", message: version, qos: 1)
            let records = await gateway.waitForRecords(1)
            #expect(records.first?[path: "data", "payload"] as? String == version)
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func ipv6BrokerAddress() async throws {
        try await MosquittoBroker.with(MosquittoBroker.Options(ipv6: true)) { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: "mqtt://[::1]:\(broker.port)", topics: ["six/#"], extra: ["qos: 1"])
            )
            try await gateway.start()
            try await MQTTTool.publish(to: broker.endpoint(), topic: "six/a", message: "v6", qos: 1)
            let records = await gateway.waitForRecords(1)
            #expect(records.first?[path: "data", "payload"] as? String == "v6")
            #expect(records.first?[path: "data", "metadata", "broker"] as? String == "mqtt://[::1]:\(broker.port)")
            #expect(await gateway.stop() == 0)
        }
    }

    @Test func outputFileAndRawFormat() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(
                yaml: Gateway.connectorYAML(url: broker.url, topics: ["raw/#"], extra: ["qos: 1", "format: raw"])
            )
            let output = gateway.directory.path + "/records.jsonl"
            try await gateway.start(extraArguments: ["--output", output])
            try await MQTTTool.publish(to: broker.endpoint(), topic: "raw/t", payload: [0x01, 0xFE], qos: 1)
            try await MQTTTool.publish(to: broker.endpoint(), topic: "raw/u", message: "plain", qos: 1)
            let arrived = await Eventually.wait(timeout: .seconds(30)) {
                ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
            }
            #expect(arrived)
            #expect(await gateway.stop() == 0)
            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
            try #require(lines.count == 2)
            #expect(lines[0].contains(#""topic":"raw/t","qos":1,"retain":false,"key":"raw/t","value_b64":"Af4="}"#))
            #expect(lines[1].contains(#""key":"raw/u","value":"plain"}"#))
            #expect(gateway.process.stdoutText.isEmpty)
        }
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        try await MosquittoBroker.with { broker in
            let gateway = try Gateway(yaml: Gateway.connectorYAML(url: broker.url, topics: ["j/#"]))
            try await gateway.start(extraArguments: ["--log-format", "json", "--log-level", "debug"])
            #expect(await gateway.stop() == 0)
            let lines = gateway.process.stderrLines.filter { !$0.isEmpty }
            #expect(lines.count >= 3)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] is String, "\(line)")
                #expect(object?["msg"] is String, "\(line)")
                #expect(object?["ts"] is String, "\(line)")
            }
        }
    }
}
