import FastIngest
import Testing

/// Every fault mode of ``RivvenServerFaults``, observed from a client.
@Suite("RivvenTestServer: fault injection")
struct RivvenServerFaultTests {
    static func publish(_ value: String, topic: String = "f") -> RivvenRequest {
        .publish(topic: topic, partition: 0, key: nil, value: Array(value.utf8), leaderEpoch: nil)
    }

    static func values(_ server: RivvenTestServer, topic: String = "f") -> [String] {
        server.records(topic: topic, partition: 0).map { String(decoding: $0.value, as: UTF8.self) }
    }

    @Test("drop before handling every 2nd Publish: the request is lost, the connection closed")
    func dropBeforeHandling() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        server.faults.dropConnection(every: 2, at: .beforeHandling, kinds: ["Publish"])
        let client = try RivvenServerTestSupport.connect(port)
        #expect(try client.call(Self.publish("1")) == .published(offset: 0, partition: 0))
        #expect(try client.call(.ping) == .pong)  // not counted: not a Publish
        #expect(throws: RivvenTestClientError.closed) { try client.call(Self.publish("2")) }
        let again = try RivvenServerTestSupport.connect(port)
        #expect(try again.call(Self.publish("3")) == .published(offset: 1, partition: 0))
        #expect(throws: RivvenTestClientError.closed) { try again.call(Self.publish("4")) }
        #expect(Self.values(server) == ["1", "3"])
        #expect(server.statistics.connectionsDroppedByFault == 2)
        #expect(server.statistics.requests("Publish") == 4)
    }

    @Test("drop after handling every 3rd request: stored, but the reply is lost")
    func dropAfterHandling() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        server.faults.dropConnection(every: 3, at: .afterHandlingBeforeReply)
        #expect(try client.call(Self.publish("1")) == .published(offset: 0, partition: 0))
        #expect(try client.call(Self.publish("2")) == .published(offset: 1, partition: 0))
        #expect(throws: RivvenTestClientError.closed) { try client.call(Self.publish("3")) }
        #expect(Self.values(server) == ["1", "2", "3"])
        server.faults.stopDroppingConnections()
        let again = try RivvenServerTestSupport.connect(port)
        #expect(try again.call(Self.publish("4")) == .published(offset: 3, partition: 0))
    }

    @Test("delayed replies arrive late but intact")
    func delayedReplies() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        server.faults.delayReplies(by: .milliseconds(300), kinds: ["Ping"])
        var start = ContinuousClock.now
        #expect(try client.call(.ping) == .pong)
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        start = ContinuousClock.now
        #expect(try client.call(Self.publish("x")) == .published(offset: 0, partition: 0))
        #expect(ContinuousClock.now - start < .milliseconds(300))
        server.faults.delayReplies(by: .zero)
        start = ContinuousClock.now
        #expect(try client.call(.ping) == .pong)
        #expect(ContinuousClock.now - start < .milliseconds(300))
        // A reply that has not arrived by the client's deadline is late, not lost.
        server.faults.delayReplies(by: .milliseconds(400))
        let cid = try client.send(.ping)
        #expect(throws: RivvenTestClientError.timedOut) { try client.receive(timeout: .milliseconds(100)) }
        let late = try client.receive()
        #expect(late.correlationID == cid && late.response == .pong)
    }

    @Test("failNext answers the next K requests of a kind with Error (same correlation id), without handling them")
    func injectedErrors() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        server.faults.failNext(2, kind: "Publish", message: "BUFFER_FULL: Server publish buffer is full, retry later")
        #expect(server.faults.pendingReplies(kind: "Publish") == 2)
        #expect(try client.call(.ping) == .pong)
        #expect(
            try client.call(Self.publish("1"))
                == .error(message: "BUFFER_FULL: Server publish buffer is full, retry later")
        )
        #expect(
            try client.call(Self.publish("2"))
                == .error(message: "BUFFER_FULL: Server publish buffer is full, retry later")
        )
        #expect(try client.call(Self.publish("3")) == .published(offset: 0, partition: 0))
        #expect(Self.values(server) == ["3"])
        #expect(server.statistics.injectedErrors == 2)
        #expect(server.faults.pendingReplies(kind: "Publish") == 0)
    }

    @Test("replyNext injects any reply, such as Throttled, for one kind only")
    func injectedReplies() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        let throttled = RivvenResponse.throttled(
            throttleTimeMs: 1500,
            quotaType: "produce_bytes_rate",
            entity: "user:alice"
        )
        server.faults.replyNext(1, kind: "PublishBatch", with: throttled)
        let batch = RivvenRequest.publishBatch(topic: "f", partition: 0, records: [.init(value: [1])], leaderEpoch: nil)
        #expect(try client.call(Self.publish("single")) == .published(offset: 0, partition: 0))
        #expect(try client.call(batch) == throttled)
        #expect(try client.call(batch) == .publishedBatch(baseOffset: 1, partition: 0, recordCount: 1))
        #expect(server.statistics.injectedErrors == 1)
    }

    @Test("while refusing connections, every new connection is closed at once; existing ones keep working")
    func refuseConnections() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let existing = try RivvenServerTestSupport.connect(port)
        server.faults.refuseConnections(true)
        #expect(server.faults.isRefusingConnections)
        let refused = try RivvenTestClient(port: port)
        _ = try? refused.send(.ping)
        #expect(throws: RivvenTestClientError.closed) { try refused.receive() }
        #expect(try existing.call(.ping) == .pong)
        server.faults.refuseConnections(false)
        let accepted = try RivvenServerTestSupport.connect(port)
        #expect(try accepted.call(.ping) == .pong)
        #expect(server.statistics.connectionsRefused == 1)
        #expect(server.statistics.connectionsAccepted == 2)
    }

    @Test("pause: nothing is answered and nothing accepted until resume; then requests are served in order")
    func pauseAndResume() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        server.pause()
        #expect(server.faults.isPaused)
        let first = try client.send(Self.publish("during-pause"))
        let second = try client.send(.ping)
        #expect(throws: RivvenTestClientError.timedOut) { try client.receive(timeout: .milliseconds(300)) }
        #expect(server.allRecords(topic: "f").isEmpty)
        // A connection made while paused waits in the backlog.
        let late = try RivvenTestClient(port: port)
        try late.send(.ping)
        #expect(throws: RivvenTestClientError.timedOut) { try late.receive(timeout: .milliseconds(200)) }
        server.resume()
        let reply1 = try client.receive()
        let reply2 = try client.receive()
        #expect(reply1.correlationID == first && reply1.response == .published(offset: 0, partition: 0))
        #expect(reply2.correlationID == second && reply2.response == .pong)
        #expect(try late.receive().response == .pong)
    }

    @Test("closeAllConnections closes every client; the server keeps accepting")
    func closeAllConnections() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let a = try RivvenServerTestSupport.connect(port)
        let b = try RivvenServerTestSupport.connect(port)
        server.closeAllConnections()
        #expect(a.waitForClose())
        #expect(b.waitForClose())
        let c = try RivvenServerTestSupport.connect(port)
        #expect(try c.call(.ping) == .pong)
    }

    @Test("a broker crash while paused: requests received but not yet handled are lost with the connection")
    func crashWhilePaused() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        server.pause()
        try client.send(Self.publish("in-flight"))
        usleepMilliseconds(100)
        server.closeAllConnections()
        server.resume()
        #expect(client.waitForClose())
        usleepMilliseconds(100)
        #expect(server.allRecords(topic: "f").isEmpty)
        #expect(server.statistics.openConnections == 0)
    }

    @Test("faults change while requests flow from several connections at once")
    func concurrentFaultChanges() async throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        _ = try RivvenServerTestSupport.connect(port).call(.createTopic(name: "f", partitions: 1))
        server.faults.dropConnection(every: 7, at: .afterHandlingBeforeReply, kinds: ["Publish"])
        let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var acks = 0
                    var client = try RivvenServerTestSupport.connect(port)
                    for index in 0..<50 {
                        do {
                            _ = try client.call(Self.publish("\(worker)-\(index)"))
                            acks += 1
                        } catch RivvenTestClientError.closed {
                            client = try RivvenServerTestSupport.connect(port)
                        }
                        if index == 25 { server.faults.delayReplies(by: .milliseconds(1)) }
                    }
                    return acks
                }
            }
            return try await group.reduce(0, +)
        }
        let stored = server.records(topic: "f", partition: 0)
        #expect(stored.count == 200)
        #expect(stored.map(\.offset) == Array(0..<200))
        #expect(acknowledged == 200 - server.statistics.connectionsDroppedByFault)
        #expect(server.statistics.connectionsDroppedByFault == 200 / 7)
    }
}
