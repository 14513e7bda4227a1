import Glibc
import Testing

@testable import FastIngest

/// TLS to Rivven: ``RivvenTLSStream`` (through ``RivvenStreams`` and ``RivvenClient``) against ``RivvenTestServer``
/// with a TLS listener, real OpenSSL on both sides and real certificates (``TLSTestCertificates``).
@Suite("Rivven over TLS", .timeLimit(.minutes(2)))
struct RivvenTLSTests {
    let pki: TLSTestCertificates

    init() throws {
        pki = try TLSTestCertificates.shared()
    }

    /// A started server presenting `certificate` (the `localhost`/`127.0.0.1` one by default).
    func startServer(
        certificate: String? = nil,
        key: String? = nil,
        clientCA: String? = nil,
        idleTimeout: Duration = .seconds(120)
    ) throws -> (RivvenTestServer, String) {
        let tls = RivvenTestServer.TLS(
            certificatePath: certificate ?? pki.serverCertificate,
            keyPath: key ?? pki.serverKey,
            clientCAPath: clientCA
        )
        let server = RivvenTestServer(configuration: .init(idleTimeout: idleTimeout, tls: tls))
        let port = try server.start()
        return (server, "127.0.0.1:\(port)")
    }

    /// TLS settings trusting the test CA.
    var trusting: RivvenTLSConfiguration { RivvenTLSConfiguration(enabled: true, caPath: pki.caCertificate) }

    /// The message of the failure `body` throws, or nil when it throws none.
    func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as RivvenClient.Failure {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    /// Connects with `tls`, and Handshakes (the first request: where TLS 1.3 reports a refused client certificate).
    func connectAndHandshake(_ address: String, _ tls: RivvenTLSConfiguration) throws(RivvenClient.Failure) {
        let client = try RivvenClient(server: address, tls: tls, timeout: .seconds(5))
        try client.handshake(clientID: "rivven-tls-test")
    }

    /// Waits up to 5 s for `condition`.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Polls `stream` for `events` (or takes buffered input) for up to 5 s; false on timeout.
    func wait(_ stream: any RivvenStream, read: Bool) -> Bool {
        if read && stream.hasBufferedInput { return true }
        var entry = pollfd(
            fd: stream.fileDescriptor,
            events: stream.pollEvents(wantRead: read, wantWrite: !read),
            revents: 0
        )
        return poll(&entry, 1, 5_000) == 1
    }

    /// Reads one whole frame from `stream`, polling as the stream asks.
    func readFrame(_ stream: any RivvenStream) throws -> RivvenFrame {
        var decoder = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            if let frame = try decoder.next() { return frame }
            #expect(wait(stream, read: true), "no reply in 5 s")
            let count = try buffer.withUnsafeMutableBytes { raw throws(RivvenStreamError) in try stream.read(into: raw)
            }
            buffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// Writes all of `bytes` to `stream`, polling as the stream asks.
    func writeAll(_ stream: any RivvenStream, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = try bytes.withUnsafeBytes { raw throws(RivvenStreamError) in
                try stream.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
            offset += count
            if count == 0 { #expect(wait(stream, read: false), "cannot send for 5 s") }
        }
    }

    // MARK: Handshake and requests

    @Test("handshake and requests over TLS 1.3, verified against ca_path; the stream says what it is")
    func requestsOverTLS() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let client = try RivvenClient(server: address, tls: trusting)
        try client.handshake(clientID: "rivven-tls-test")
        #expect(try client.send(.createTopic(name: "t", partitions: 1)) == .topicCreated(name: "t", partitions: 1))
        let published = try client.send(
            .publish(topic: "t", partition: 0, key: nil, value: Array("over tls".utf8), leaderEpoch: nil)
        )
        #expect(published == .published(offset: 0, partition: 0))
        #expect(server.allRecords(topic: "t").map(\.value) == [Array("over tls".utf8)])
        #expect(server.statistics.tlsHandshakes == 1)
        // An IP address is verified against the certificate's IP names and is never sent as SNI (RFC 6066).
        #expect(server.statistics.tlsServerNames.isEmpty)

        let stream = try RivvenStreams.connect(address, tls: trusting, timeoutMilliseconds: 5_000)
        #expect(stream.kind == "tls 1.3")
        #expect(stream.server == address)
    }

    @Test("a DNS host name is verified and sent as SNI")
    func hostNameAndSNI() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let port = address.split(separator: ":").last!
        try connectAndHandshake("localhost:\(port)", trusting)
        #expect(server.statistics.tlsServerNames == ["localhost": 1])
    }

    @Test("a large payload (6 MiB each way) round-trips over TLS")
    func largePayload() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        var generator = SplitMix64(seed: 0x7715)
        let value = (0..<(6 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let client = try RivvenClient(server: address, tls: trusting)
        try client.handshake(clientID: "rivven-tls-test")
        let published = try client.send(.publish(topic: "big", partition: 0, key: nil, value: value, leaderEpoch: nil))
        #expect(published == .published(offset: 0, partition: 0))
        #expect(server.allRecords(topic: "big").first?.value == value)
        let reply = try client.send(
            .consume(topic: "big", partition: 0, offset: 0, maxMessages: 1, isolationLevel: nil, maxWaitMs: nil)
        )
        guard case .messages(let messages) = reply else {
            Issue.record("expected Messages, got \(reply.variantName)")
            return
        }
        #expect(messages.count == 1)
        #expect(messages.first?.value == value)
    }

    @Test("read never blocks; a record read in pieces is reported as buffered input")
    func nonBlockingReadsAndBufferedInput() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let stream = try RivvenStreams.connect(address, tls: trusting, timeoutMilliseconds: 5_000)
        var byte = [UInt8](repeating: 0, count: 1)
        // Nothing was asked: nothing to read, at once (a session ticket may arrive and be consumed meanwhile).
        #expect(try byte.withUnsafeMutableBytes { raw throws(RivvenStreamError) in try stream.read(into: raw) } == 0)

        var ping: [UInt8] = []
        RivvenRequest.ping.encode(correlationID: 7, into: &ping)
        try writeAll(stream, ping)
        var received: [UInt8] = []
        while received.isEmpty {
            #expect(wait(stream, read: true))
            if try byte.withUnsafeMutableBytes({ raw throws(RivvenStreamError) in try stream.read(into: raw) }) == 1 {
                received.append(byte[0])
            }
        }
        // The Pong frame (10 bytes) came in one TLS record: the other 9 bytes are decrypted and waiting.
        #expect(stream.hasBufferedInput)
        while stream.hasBufferedInput {
            let count = try byte.withUnsafeMutableBytes { raw throws(RivvenStreamError) in try stream.read(into: raw) }
            received.append(contentsOf: byte[0..<count])
        }
        #expect(received == [0, 0, 0, 6, 0, 0, 0, 0, 7, 12])
    }

    @Test("the forwarder over TLS: pipelined idempotent batches, reconnecting through dropped connections")
    func forwarderOverTLS() async throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        // Every 7th batch is handled but its reply lost: the forwarder reconnects (a new handshake) and resends.
        server.faults.dropConnection(every: 7, at: .afterHandlingBeforeReply, kinds: ["IdempotentPublishBatch"])
        let rig = try RivvenForwarderTests.Rig(
            servers: [address],
            broker: ["tls:", "  enabled: true", "  ca_path: \(pki.caCertificate)"],
            batch: BatchConfiguration(maxMessages: 40)
        )
        rig.forwarder.start()
        let value = [UInt8](repeating: 0x5a, count: 2_000)
        for round in 0..<10 {
            try rig.append((0..<100).map { ("a/b", nil, Array("\(round * 100 + $0):".utf8) + value) })
        }
        #expect(await rig.waitAcknowledged(1_000), "\(rig.eventText())")
        rig.forwarder.stop()
        rig.forwarder.join()
        let prefixes = server.allRecords(topic: "iot").map { record in
            String(decoding: record.value.prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self)
        }
        #expect(prefixes == (0..<1_000).map(String.init))
        #expect(server.statistics.connectionsDroppedByFault > 0)
        #expect(server.statistics.tlsHandshakes > server.statistics.connectionsDroppedByFault)
        #expect(server.statistics.tlsHandshakeFailures == 0)
        #expect(rig.eventText().contains("tls 1.3"), "\(rig.eventText())")
    }

    // MARK: Verification

    @Test("a server certificate from another CA fails verification, in words naming the server and the reason")
    func wrongCA() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let message = failure {
            try connectAndHandshake(address, .init(enabled: true, caPath: pki.otherCACertificate))
        }
        #expect(
            message
                == "\(address): TLS handshake failed: certificate verify failed (unable to get local issuer certificate)"
        )
        #expect(eventually { server.statistics.tlsHandshakeFailures == 1 })
        #expect(server.statistics.tlsHandshakes == 0)

        // A server that sends its CA along: the chain ends in a self-signed certificate the client does not trust.
        let (chained, chainedAddress) = try startServer(certificate: pki.serverChain)
        defer { chained.stop() }
        #expect(
            failure { try connectAndHandshake(chainedAddress, .init(enabled: true, caPath: pki.otherCACertificate)) }
                == "\(chainedAddress): TLS handshake failed: certificate verify failed "
                + "(self-signed certificate in certificate chain)"
        )
        #expect(failure { try connectAndHandshake(chainedAddress, trusting) } == nil)
    }

    @Test("without ca_path the system CAs are used, which do not know the test CA")
    func systemCAs() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        let message = failure { try connectAndHandshake(address, .init(enabled: true)) }
        #expect(message?.hasPrefix("\(address): TLS handshake failed: certificate verify failed (") == true)
    }

    @Test("a host name mismatch fails; server_name or insecure makes the connection pass")
    func hostNameMismatch() throws {
        let (server, address) = try startServer(certificate: pki.namedServerCertificate, key: pki.namedServerKey)
        defer { server.stop() }
        let name = TLSTestCertificates.namedServerName
        #expect(
            failure { try connectAndHandshake(address, trusting) }
                == "\(address): TLS handshake failed: certificate verify failed (IP address mismatch)"
        )
        var wrongName = trusting
        wrongName.serverName = "other.test"
        #expect(
            failure { try connectAndHandshake(address, wrongName) }
                == "\(address): TLS handshake failed: certificate verify failed (hostname mismatch)"
        )

        var named = trusting
        named.serverName = name
        #expect(failure { try connectAndHandshake(address, named) } == nil)
        // Only completed handshakes count; "other.test" was refused by the client.
        #expect(server.statistics.tlsServerNames == [name: 1])

        // insecure: no verification at all, not even of the CA (testing only).
        #expect(failure { try connectAndHandshake(address, .init(enabled: true, insecure: true)) } == nil)
        #expect(server.statistics.tlsHandshakes == 2)
    }

    // MARK: Mutual TLS

    @Test("a server requiring client certificates refuses none and a foreign one, and accepts one its CA signed")
    func mutualTLS() throws {
        let (server, address) = try startServer(clientCA: pki.caCertificate)
        defer { server.stop() }
        // TLS 1.3 finishes the client's side of the handshake before the server looks at the client certificate: the
        // refusal arrives as an alert, on the first read.
        let none = failure { try connectAndHandshake(address, trusting) }
        #expect(none == "\(address): TLS receive failed: tlsv13 alert certificate required")

        var foreign = trusting
        foreign.certPath = pki.otherClientCertificate
        foreign.keyPath = pki.otherClientKey
        let refused = failure { try connectAndHandshake(address, foreign) }
        #expect(refused == "\(address): TLS receive failed: tlsv1 alert unknown ca")

        var good = trusting
        good.certPath = pki.clientCertificate
        good.keyPath = pki.clientKey
        #expect(failure { try connectAndHandshake(address, good) } == nil)
        #expect(server.statistics.tlsHandshakes == 1)
        #expect(eventually { server.statistics.tlsHandshakeFailures == 2 })
    }

    @Test("unusable client certificate files fail in words, before any handshake")
    func badClientFiles() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        var missing = trusting
        missing.certPath = pki.directory + "/missing.crt"
        missing.keyPath = pki.clientKey
        let message = failure { try connectAndHandshake(address, missing) }
        #expect(
            message?.hasPrefix("\(address): cannot load TLS client certificate \(pki.directory)/missing.crt: ") == true
        )

        var mismatched = trusting
        mismatched.certPath = pki.clientCertificate
        mismatched.keyPath = pki.serverKey
        let mismatch = failure { try connectAndHandshake(address, mismatched) }
        #expect(
            mismatch == "\(address): cannot load TLS client key \(pki.serverKey): key values mismatch",
            "\(mismatch ?? "")"
        )
        #expect(server.statistics.tlsHandshakes == 0)
    }

    // MARK: Plain and TLS mixed up, timeouts, closes

    @Test("TLS to a plain-TCP broker fails with a hint; plain TCP to a TLS broker fails its handshake")
    func plainAndTLSMixedUp() throws {
        let plain = RivvenTestServer()
        let plainPort = try plain.start()
        defer { plain.stop() }
        let message = failure { try connectAndHandshake("127.0.0.1:\(plainPort)", trusting) }
        #expect(message?.hasPrefix("127.0.0.1:\(plainPort): TLS handshake failed: ") == true)
        #expect(message?.hasSuffix("(is TLS enabled on the broker?)") == true, "\(message ?? "")")

        let (server, address) = try startServer()
        defer { server.stop() }
        #expect(failure { try connectAndHandshake(address, RivvenTLSConfiguration()) } != nil)
        #expect(eventually { server.statistics.tlsHandshakeFailures == 1 })
        #expect(server.statistics.requests("Handshake") == 0)
    }

    @Test("no handshake within the timeout fails in words")
    func handshakeTimeout() throws {
        let (server, address) = try startServer()
        defer { server.stop() }
        // Paused, the server accepts no connection: TCP completes in the backlog, TLS never starts.
        server.pause()
        defer { server.resume() }
        let message = failure {
            _ = try RivvenClient(server: address, tls: trusting, timeout: .milliseconds(300))
        }
        #expect(message == "\(address): no TLS handshake within 300 ms")
    }

    @Test("a close with close_notify and one without both read as closed by the peer")
    func closedByPeer() throws {
        let (server, address) = try startServer(idleTimeout: .milliseconds(500))
        defer { server.stop() }

        // An oversized frame: rivvend answers MESSAGE_TOO_LARGE with correlation id 0 and closes (here with a TLS
        // close_notify).
        let stream = try RivvenStreams.connect(address, tls: trusting, timeoutMilliseconds: 5_000)
        try writeAll(stream, [0x7f, 0xff, 0xff, 0xff])
        let frame = try readFrame(stream)
        #expect(frame.correlationID == 0)
        guard case .error(let text) = try RivvenResponse.decode(frame) else {
            Issue.record("expected Error")
            return
        }
        #expect(text.hasPrefix("MESSAGE_TOO_LARGE"))
        var clean: RivvenStreamError?
        do {
            _ = try readFrame(stream)
        } catch let error as RivvenStreamError {
            clean = error
        }
        #expect(clean?.closedByPeer == true)
        #expect(clean?.message == "\(address): the broker closed the TLS connection")

        // The idle timeout closes without close_notify.
        let idle = try RivvenStreams.connect(address, tls: trusting, timeoutMilliseconds: 5_000)
        var abrupt: RivvenStreamError?
        do {
            _ = try readFrame(idle)
        } catch let error as RivvenStreamError {
            abrupt = error
        }
        #expect(abrupt?.closedByPeer == true)
        #expect(abrupt?.message == "\(address): the broker closed the connection (without TLS close_notify)")
    }

    @Test("a server whose certificate does not load refuses to start")
    func serverFilesChecked() throws {
        let server = RivvenTestServer(
            configuration: .init(tls: .init(certificatePath: pki.directory + "/none.crt", keyPath: pki.serverKey))
        )
        #expect(throws: RivvenTestServerError.self) { try server.start() }
        do {
            try server.start()
        } catch {
            #expect(error.code == .tls)
            #expect(error.description.contains("cannot load TLS server certificate \(pki.directory)/none.crt"))
        }
        #expect(!server.isRunning)
    }
}
