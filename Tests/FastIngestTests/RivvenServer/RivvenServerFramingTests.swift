import FastIngest
import Glibc
import Testing

/// Transport behaviour (WIRE.md §1, §2, §10): ordering, malformed and oversized frames, idle timeout, handshake.
@Suite("RivvenTestServer: framing and transport")
struct RivvenServerFramingTests {
    /// A frame with `payload` after the header, `format` and `cid` as given.
    static func frame(payload: [UInt8], correlationID: UInt32 = 7, format: UInt8 = 0) -> [UInt8] {
        let length = UInt32(5 + payload.count)
        var bytes = [24, 16, 8, 0].map { UInt8(length >> UInt32($0) & 0xFF) }
        bytes.append(format)
        bytes.append(contentsOf: [24, 16, 8, 0].map { UInt8(correlationID >> UInt32($0) & 0xFF) })
        return bytes + payload
    }

    static func payload(_ request: RivvenRequest) -> [UInt8] {
        var bytes: [UInt8] = []
        request.encodePayload(into: &bytes)
        return bytes
    }

    /// Sends `bytes`, expects `Error{message}` with correlation id 0, then checks that the connection still works.
    static func expectRejected(_ bytes: [UInt8], message: String, port: UInt16) throws {
        let client = try RivvenTestClient(port: port)
        try client.sendRaw(bytes)
        let reply = try client.receive()
        #expect(reply.correlationID == 0)
        #expect(reply.response == .error(message: message))
        #expect(try client.call(.ping) == .pong, "the connection stays usable after \(message)")
    }

    @Test("pipelined requests are answered in order, each with its own correlation id")
    func pipelining() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        var expected: [(UInt32, RivvenResponse)] = []
        var burst: [UInt8] = []
        var published: UInt64 = 0
        for index in 0..<60 {
            let cid = UInt32(1000 + index)
            if index % 3 == 0 {
                RivvenRequest.ping.encode(correlationID: cid, into: &burst)
                expected.append((cid, .pong))
            } else {
                RivvenRequest.publishBatch(
                    topic: "p",
                    partition: 1,
                    records: [.init(value: [UInt8(index)])],
                    leaderEpoch: nil
                )
                .encode(correlationID: cid, into: &burst)
                expected.append((cid, .publishedBatch(baseOffset: published, partition: 1, recordCount: 1)))
                published += 1
            }
        }
        try client.sendRaw(burst)  // all 60 frames in one write
        for (cid, response) in expected {
            let reply = try client.receive()
            #expect(reply.correlationID == cid)
            #expect(reply.response == response)
        }
        #expect(server.records(topic: "p", partition: 1).count == 40)
    }

    @Test("requests split into single bytes are reassembled")
    func byteByByte() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        var bytes: [UInt8] = []
        RivvenRequest.handshake(protocolVersion: 2, clientID: "slow").encode(correlationID: 0, into: &bytes)
        RivvenRequest.ping.encode(correlationID: 1, into: &bytes)
        for byte in bytes {
            try client.sendRaw([byte])
            usleepMilliseconds(1)
        }
        #expect(try client.receive().response == .handshakeResult(serverVersion: 2, compatible: true, message: "OK"))
        #expect(try client.receive().correlationID == 1)
    }

    @Test("Handshake with another protocol version: compatible=false, and the connection stays open")
    func versionMismatch() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        #expect(
            try client.call(.handshake(protocolVersion: 3, clientID: "future"))
                == .handshakeResult(
                    serverVersion: 2,
                    compatible: false,
                    message: "Version mismatch: client=3, server=2"
                )
        )
        #expect(try client.call(.ping) == .pong)
    }

    @Test("undecodable payloads: Error with correlation id 0, rivvend's text, connection kept")
    func malformedPayloads() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let prefix = "INVALID_REQUEST: Serialization error: "
        // Unknown variant index 77.
        try Self.expectRejected(Self.frame(payload: [77]), message: prefix + "Serde Deserialization Error", port: port)
        // A Publish that ends inside its fields.
        let publish = Self.payload(.publish(topic: "t", partition: nil, key: nil, value: [1, 2, 3], leaderEpoch: nil))
        try Self.expectRejected(
            Self.frame(payload: Array(publish.dropLast(3))),
            message: prefix + "Hit the end of buffer, expected more data",
            port: port
        )
        // Option tag 2, bool 7, invalid UTF-8 in a topic name.
        try Self.expectRejected(
            Self.frame(payload: [4, 1, 0x74, 2]),
            message: prefix + "Found an Option discriminant that wasn't 0 or 1",
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: [0, 1, 0x75, 1, 0x70, 7]),
            message: prefix + "Found a bool that wasn't 0 or 1",
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: [11, 1, 0xFF]),
            message: prefix + "Tried to parse invalid utf-8",
            port: port
        )
        // A u32 varint whose fifth byte overflows, and one that does not end within 5 bytes.
        let badVarint = prefix + "Found a varint that didn't terminate. Is the usize too big for this platform?"
        try Self.expectRejected(
            Self.frame(payload: [33, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0]),
            message: badVarint,
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: [33, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0]),
            message: badVarint,
            port: port
        )
        // An empty frame body (L < 5) and an unknown format byte.
        try Self.expectRejected(
            [0, 0, 0, 2, 0, 0],
            message: prefix + "Wire data too short (need format byte + correlation_id)",
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: [13], format: 2),
            message: prefix + "Unknown wire format: 0x02",
            port: port
        )
        // What only this strict server rejects (rivvend would accept it): bytes after the request, a padded varint.
        try Self.expectRejected(
            Self.frame(payload: [13, 0]),
            message: prefix + "1 bytes after the request (strict test server)",
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: [33, 0x82, 0x00, 0]),
            message: prefix + "varint not in its shortest form (strict test server)",
            port: port
        )
        #expect(server.statistics.malformedFrames == 11)
        #expect(server.statistics.totalRequests == 11)  // the Pings after each rejection
    }

    @Test("broker bounds: names over 256 bytes and lists over 10 000 entries are INVALID_REQUEST, cid 0")
    func boundsExceeded() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let longName = String(repeating: "a", count: 300)
        try Self.expectRejected(
            Self.frame(payload: Self.payload(.getMetadata(topic: longName))),
            message: "INVALID_REQUEST: Invalid message format: topic exceeds max length (300 > 256)",
            port: port
        )
        try Self.expectRejected(
            Self.frame(payload: Self.payload(.handshake(protocolVersion: 2, clientID: longName))),
            message: "INVALID_REQUEST: Invalid message format: client_id exceeds max length (300 > 256)",
            port: port
        )
        let many = [RivvenBatchRecord](repeating: .init(value: []), count: 10_001)
        try Self.expectRejected(
            Self.frame(
                payload: Self.payload(.publishBatch(topic: "t", partition: nil, records: many, leaderEpoch: nil))
            ),
            message: "INVALID_REQUEST: Invalid message format: records list exceeds max length (10001 > 10000)",
            port: port
        )
        // 256 bytes pass the protocol check but not the broker's topic rule (255).
        let client = try RivvenTestClient(port: port)
        #expect(
            try client.call(.getMetadata(topic: String(repeating: "b", count: 256)))
                == .error(message: "INVALID_TOPIC_NAME: Topic name too long: 256 chars (max: 255)")
        )
        #expect(server.topicNames().isEmpty)
    }

    @Test("an oversized length prefix: MESSAGE_TOO_LARGE with cid 0, then the connection is closed")
    func oversizedFrame() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        let length = UInt32(RivvenLimits.maxRequestFrameLength + 1)
        try client.sendRaw([24, 16, 8, 0].map { UInt8(length >> UInt32($0) & 0xFF) } + [0, 0, 0, 0, 9, 13])
        let reply = try client.receive()
        #expect(reply.correlationID == 0)
        #expect(reply.response == .error(message: "MESSAGE_TOO_LARGE: 10485761 bytes exceeds limit"))
        #expect(client.waitForClose())
        // A frame of exactly the limit is read (and here rejected only for its content).
        let configuration = RivvenTestServer.Configuration(maxRequestSize: 64)
        let (small, smallPort) = try RivvenServerTestSupport.startServer(configuration)
        defer { small.stop() }
        let limited = try RivvenTestClient(port: smallPort)
        #expect(
            try limited.call(
                .publish(topic: "t", partition: 0, key: nil, value: [UInt8](repeating: 1, count: 40), leaderEpoch: nil)
            ) == .published(offset: 0, partition: 0)
        )
        try limited.send(
            .publish(topic: "t", partition: 0, key: nil, value: [UInt8](repeating: 1, count: 60), leaderEpoch: nil)
        )
        #expect(try limited.receive().response == .error(message: "MESSAGE_TOO_LARGE: 73 bytes exceeds limit"))
        #expect(limited.waitForClose())
        #expect(small.records(topic: "t", partition: 0).count == 1)
    }

    @Test("a protobuf format byte (rivvend built without protobuf) closes the connection without a reply")
    func protobufFormat() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        try client.sendRaw(Self.frame(payload: [13], format: 1))
        #expect(throws: RivvenTestClientError.closed) { try client.receive() }
    }

    @Test("a request the codec knows but this server does not implement: UNSUPPORTED with the request's cid")
    func unsupportedVariant() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        // DeleteTopic (8) {name: "x"}.
        try client.sendRaw(Self.frame(payload: [8, 1, 0x78], correlationID: 5))
        let reply = try client.receive()
        #expect(reply.correlationID == 5)
        #expect(reply.response == .error(message: "UNSUPPORTED: the Rivven test server does not implement DeleteTopic"))
        #expect(server.statistics.requests("DeleteTopic") == 1)
    }

    @Test("idle connections are closed after the idle timeout; active ones are not")
    func idleTimeout() throws {
        let (server, port) = try RivvenServerTestSupport.startServer(.init(idleTimeout: .milliseconds(400)))
        defer { server.stop() }
        let idle = try RivvenServerTestSupport.connect(port)
        let active = try RivvenServerTestSupport.connect(port)
        let start = ContinuousClock.now
        for _ in 0..<8 {
            usleepMilliseconds(100)
            #expect(try active.call(.ping) == .pong)
        }
        #expect(idle.waitForClose(timeout: .seconds(2)))
        #expect(ContinuousClock.now - start >= .milliseconds(400))
        #expect(try active.call(.ping) == .pong)
        #expect(server.statistics.idleTimeouts == 1)
        // Half a frame does not count as traffic.
        let partial = try RivvenTestClient(port: port)
        try partial.sendRaw([0, 0, 0, 6, 0])
        #expect(partial.waitForClose(timeout: .seconds(2)))
        // (The active connection has been quiet meanwhile and may have timed out too.)
        #expect(server.statistics.idleTimeouts >= 2)
    }

    @Test("stop closes every connection and start serves again on the same port, keeping records")
    func restart() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        let client = try RivvenServerTestSupport.connect(port)
        #expect(
            try client.call(.publish(topic: "r", partition: 0, key: nil, value: [1], leaderEpoch: nil))
                == .published(offset: 0, partition: 0)
        )
        _ = try client.call(.initProducerID(producerID: nil))
        server.stop()
        #expect(!server.isRunning && server.port == nil)
        #expect(client.waitForClose())
        #expect(throws: RivvenTestClientError.self) { try RivvenTestClient(port: port) }
        #expect(try server.start() == port)
        defer { server.stop() }
        #expect(throws: RivvenTestServerError(.alreadyRunning)) { try server.start() }
        let again = try RivvenServerTestSupport.connect(port)
        #expect(
            try again.call(.publish(topic: "r", partition: 0, key: nil, value: [2], leaderEpoch: nil))
                == .published(offset: 1, partition: 0)
        )
        // Producer state lives in memory only: the restarted broker hands out id 1 again.
        #expect(
            try again.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 1, producerEpoch: 0)
        )
    }
}

func usleepMilliseconds(_ milliseconds: Int) {
    usleep(UInt32(milliseconds * 1000))
}
