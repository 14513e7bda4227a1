import Testing

@testable import FastIngest

/// Replays the captured client frames (`/work/shared/rivven/fixtures`, real rivven-python 0.0.22) against the test
/// server over TCP, each on its own connection as captured, and compares every reply with the reference reply of the
/// fixture set: the same variant and correlation id always; the same bytes wherever the reply is deterministic (all
/// but the record timestamps in `Messages` and the random SCRAM session id).
@Suite("RivvenTestServer: fixture replay")
struct RivvenServerFixtureReplayTests {
    /// One request fixture and the reply fixture that follows it.
    struct Exchange {
        var request: RivvenFixture
        var reply: RivvenFixture
        var connection: Int { Int(request.sidecar["connection"]?.integerValue ?? 0) }
    }

    /// The request/reply pairs of one capture backend (`plain (no auth)` or `auth (SCRAM-SHA-256 required)`), in
    /// file order.
    static func exchanges(backend: String) throws -> [Exchange] {
        let fixtures = try RivvenFixture.all().filter { $0.sidecar["backend"]?.stringValue == backend }
        var exchanges: [Exchange] = []
        var index = 0
        while index < fixtures.count {
            let request = fixtures[index]
            try #require(request.isClientToServer, "\(request.name) should be a request")
            let reply = try #require(
                index + 1 < fixtures.count ? fixtures[index + 1] : nil,
                "no reply after \(request.name)"
            )
            try #require(!reply.isClientToServer, "\(reply.name) should be a reply")
            exchanges.append(Exchange(request: request, reply: reply))
            index += 2
        }
        return exchanges
    }

    /// Sends every request on its captured connection and checks the reply against the fixture.
    static func replay(
        _ exchanges: [Exchange],
        port: UInt16,
        check: (Exchange, RivvenFrame, RivvenResponse) throws -> Void
    )
        throws
    {
        var clients: [Int: RivvenTestClient] = [:]
        for exchange in exchanges {
            let client = try clients[exchange.connection] ?? RivvenTestClient(port: port)
            clients[exchange.connection] = client
            try client.sendRaw(exchange.request.frame)
            let frame = try client.receiveFrame()
            let response = try RivvenResponse.decode(frame)
            #expect(response.variantName == exchange.reply.variant, "\(exchange.request.name): \(response)")
            #expect(frame.correlationID == exchange.reply.correlationID, "\(exchange.request.name)")
            try check(exchange, frame, response)
        }
    }

    /// The bytes the server sent for `frame` (length prefix, format byte, correlation id, payload).
    static func wholeFrame(_ frame: RivvenFrame) -> [UInt8] {
        let length = UInt32(5 + frame.payload.count)
        var bytes = [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        bytes.append(frame.format)
        bytes.append(contentsOf: [24, 16, 8, 0].map { UInt8(frame.correlationID >> UInt32($0) & 0xFF) })
        bytes.append(contentsOf: frame.payload)
        return bytes
    }

    /// A `Messages` fixture's fields without the timestamps, which change on every capture.
    static func withoutTimestamps(_ fields: JSONValue) -> JSONValue {
        guard case .object(var object) = fields, let messages = object["messages"]?.arrayValue else { return fields }
        object["messages"] = .array(
            messages.map { message in
                guard case .object(var entry) = message else { return message }
                entry["timestamp"] = nil
                return .object(entry)
            }
        )
        return .object(object)
    }

    @Test("plain capture (001–088): every reply has the fixture's shape and, where deterministic, its bytes")
    func replayPlainCapture() throws {
        let exchanges = try Self.exchanges(backend: "plain (no auth)")
        #expect(exchanges.count == 44)
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        try Self.replay(exchanges, port: port) { exchange, frame, response in
            if case .messages = response {
                #expect(
                    Self.withoutTimestamps(sidecarFields(response)) == Self.withoutTimestamps(exchange.reply.fields),
                    "\(exchange.reply.name)"
                )
            } else {
                #expect(Self.wholeFrame(frame) == exchange.reply.frame, "\(exchange.reply.name): got \(response)")
            }
        }
        // What the capture stored: golden-one got 0…3 (Publish), 4…9 (producer batches), 10…11 (IdempotentPublish).
        #expect(server.records(topic: "golden-one", partition: 0).map(\.offset) == Array(0...11))
        #expect(server.records(topic: "golden-auto", partition: 1).count == 1)
        #expect(
            server.records(topic: "golden", partition: 2).map { String(decoding: $0.key ?? [], as: UTF8.self) } == [
                "key-2", "key-3", "key-5",
            ]
        )
        #expect(server.committedOffset(group: "g1", topic: "golden-one", partition: 0) == 2)
        #expect(server.statistics.connectionsAccepted == 6)
        #expect(server.statistics.requests("PublishBatch") == 8)
    }

    @Test("auth capture (089–098): AUTHENTICATION_REQUIRED, then the captured SCRAM exchange verifies byte for byte")
    func replayAuthCapture() throws {
        let exchanges = try Self.exchanges(backend: "auth (SCRAM-SHA-256 required)")
        #expect(exchanges.count == 5)
        // The capture's salt, iteration count and server nonce (read off fixture 094), and alice's password (the
        // call's arguments): the proof in fixture 095 verifies only if the server computes what the broker did.
        let salt = try #require(RivvenBase64.decode("ZSqHRsb52eB/aSp+UUw6uw=="))
        let configuration = RivvenTestServer.Configuration(
            requireAuth: true,
            users: [.init(name: "alice", password: "secret-pw", salt: salt, iterations: 4096)],
            scramServerNonce: { "KkhzduW2/yj8IZLiSPtY7zFD" }
        )
        let (server, port) = try RivvenServerTestSupport.startServer(configuration)
        defer { server.stop() }
        try Self.replay(exchanges, port: port) { exchange, frame, response in
            if case .scramServerFinal(let message, let sessionID, let expiresIn) = response {
                guard
                    case .scramServerFinal(let expected, _, let expectedExpiry) = try RivvenResponse.decode(
                        try RivvenFrame.parse(exchange.reply.frame)
                    )
                else {
                    Issue.record("fixture \(exchange.reply.name) is not ScramServerFinal")
                    return
                }
                #expect(message == expected)
                #expect(expiresIn == expectedExpiry)
                // rivvend: hex of 32 random bytes.
                #expect(sessionID?.count == 64)
            } else {
                #expect(Self.wholeFrame(frame) == exchange.reply.frame, "\(exchange.reply.name): got \(response)")
            }
        }
        #expect(server.topicNames() == ["secured"])
    }

    @Test("the synthetic IdempotentPublishBatch (S01) is accepted once, then is a duplicate")
    func replaySyntheticIdempotentBatch() throws {
        let fixture = try RivvenFixture.load("S01_synthetic_c2s_IdempotentPublishBatch.hex")
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(
            try client.call(.createTopic(name: "golden-one", partitions: 1))
                == .topicCreated(name: "golden-one", partitions: 1)
        )
        // S01 is sent by producer id 2.
        _ = try client.call(.initProducerID(producerID: nil))
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 2, producerEpoch: 0)
        )
        try client.sendRaw(fixture.frame)
        #expect(
            try client.receive().response
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: false)
        )
        try client.sendRaw(fixture.frame)
        #expect(
            try client.receive().response
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: true)
        )
        #expect(server.records(topic: "golden-one", partition: 0).map(\.value) == [Array("r0".utf8), Array("r1".utf8)])
        #expect(server.statistics.duplicatesDetected == 1)
    }
}
