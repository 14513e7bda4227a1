import Foundation
import Testing

/// Numbered floods: the crash and shutdown tests publish the numbers 1…N and look for every one of them in the log.
extension Gateway {
    /// Starts a gateway with a persistent QoS 1 session on `filter` (fast reconnects) and, once it is subscribed, a
    /// publisher sending "1"…"total" at QoS 1 to `topic`. The publisher runs until the broker has every message.
    static func startUnderNumberedFlood(
        broker: MosquittoBroker,
        filter: String,
        topic: String,
        clientID: String,
        total: Int
    ) async throws -> (gateway: Gateway, publisher: Task<Void, any Error>) {
        let yaml = connectorYAML(
            url: broker.url,
            topics: [filter],
            extra: ["qos: at_least_once", "clean_session: false", "client_id: \(clientID)", "retry_initial_ms: 20"]
        )
        let gateway = try Gateway(yaml: yaml)
        try await gateway.start()
        let endpoint = broker.endpoint()
        let publisher = Task {
            try await MQTTTool.publishMany(
                to: endpoint,
                topic: topic,
                messages: (1...total).map(String.init),
                qos: 1,
                timeout: .seconds(240)
            )
        }
        return (gateway, publisher)
    }

    /// The numbers the log holds (envelope `data.payload` as a JSON number), in log order, duplicates included.
    func loggedNumbers() async throws -> [Int] {
        try await logCat().compactMap { record -> Int? in
            guard let value = record["value"] as? String,
                let envelope = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any]
            else { return nil }
            return envelope[path: "data", "payload"] as? Int
        }
    }

    /// Waits until every number of 1…`total` is in the log; records an issue naming the first missing ones if not.
    /// Returns every number found, in log order.
    @discardableResult
    func expectEveryNumber(upTo total: Int, timeout: Duration = .seconds(120)) async -> [Int] {
        var all: [Int] = []
        var found = Set<Int>()
        let complete = await Eventually.wait(timeout: timeout, interval: .milliseconds(500)) {
            all = (try? await self.loggedNumbers()) ?? []
            found = Set(all)
            return found.count == total
        }
        let missing = Set(1...total).subtracting(found).sorted()
        #expect(complete, "missing \(missing.count) of \(total): e.g. \(Array(missing.prefix(10)))")
        #expect(found == Set(1...total))
        return all
    }
}

/// A drain that cannot finish, for the shutdown tests.
extension Gateway {
    /// Runs `body` with a started gateway (QoS 1 on `stuck/#`) whose `--output` is a FIFO that is open but never
    /// read, after four 100 kB messages: once the FIFO's buffer is full writing blocks, so a graceful drain cannot
    /// finish. The FIFO is closed when `body` returns.
    static func withStuckOutput(
        broker: MosquittoBroker,
        _ body: (Gateway) async throws -> Void
    ) async throws {
        let gateway = try Gateway(yaml: connectorYAML(url: broker.url, topics: ["stuck/#"], extra: ["qos: 1"]))
        let fifo = gateway.directory.path + "/stuck.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        try await gateway.start(extraArguments: ["--output", fifo])
        let big = String(repeating: "x", count: 100_000)
        for i in 0..<4 {
            try await MQTTTool.publish(to: broker.endpoint(), topic: "stuck/\(i)", message: big, qos: 0)
        }
        try await body(gateway)
    }
}
