import Testing

@testable import FastIngest

/// Authentication as rivvend 0.0.22 with `--require-auth` (WIRE.md §5, §6), over TCP.
@Suite("RivvenTestServer: authentication")
struct RivvenServerAuthTests {
    static let required = RivvenResponse.error(message: "AUTHENTICATION_REQUIRED: Please authenticate first")

    static func server(lifetime: Duration = .seconds(3600)) throws -> (RivvenTestServer, UInt16) {
        try RivvenServerTestSupport.startServer(
            .init(requireAuth: true, users: [.init(name: "alice", password: "secret-pw")], sessionLifetime: lifetime)
        )
    }

    /// The client side of SCRAM-SHA-256, as the official client does it; returns the server-final reply.
    static func scram(_ client: RivvenTestClient, user: String, password: String) throws -> RivvenResponse {
        let clientNonce = RivvenBase64.encode(RivvenBroker.randomBytes(24))
        let bare = "n=\(user),r=\(clientNonce)"
        guard
            case .scramServerFirst(let serverFirstBytes) = try client.call(
                .scramClientFirst(message: Array("n,,\(bare)".utf8))
            )
        else {
            throw RivvenTestClientError.undecodable("no ScramServerFirst")
        }
        let serverFirst = String(decoding: serverFirstBytes, as: UTF8.self)
        var fields: [Character: Substring] = [:]
        for attribute in serverFirst.split(separator: ",") { fields[attribute.first!] = attribute.dropFirst(2) }
        let nonce = String(fields["r"]!)
        #expect(nonce.hasPrefix(clientNonce) && nonce.count > clientNonce.count)
        let salt = try #require(RivvenBase64.decode(fields["s"]!))
        let iterations = try #require(Int(fields["i"]!))
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)
        // A 600 000-round PBKDF2 (unknown users) would take long in a debug build; its proof is wrong anyway.
        let salted =
            iterations > 10_000
            ? [UInt8](repeating: 0, count: 32)
            : RivvenPBKDF2.deriveKey(password: Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = RivvenHMACSHA256.authenticationCode(key: salted, message: Array("Client Key".utf8))
        let signature = RivvenHMACSHA256.authenticationCode(key: RivvenSHA256.hash(clientKey), message: authMessage)
        let proof = RivvenBase64.encode(zip(clientKey, signature).map { $0 ^ $1 })
        let reply = try client.call(.scramClientFinal(message: Array("\(withoutProof),p=\(proof)".utf8)))
        if case .scramServerFinal(let message, let sessionID, _) = reply, sessionID != nil {
            // Mutual authentication: the server proves it knows the password too.
            let serverKey = RivvenHMACSHA256.authenticationCode(key: salted, message: Array("Server Key".utf8))
            let expected =
                "v=" + RivvenBase64.encode(RivvenHMACSHA256.authenticationCode(key: serverKey, message: authMessage))
            #expect(String(decoding: message, as: UTF8.self) == expected)
        }
        return reply
    }

    @Test("before login only Ping and authentication are served; after SCRAM everything is; Handshake never")
    func scramLogin() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        #expect(try client.call(.handshake(protocolVersion: 2, clientID: "rivven-client")) == Self.required)
        #expect(try client.call(.ping) == .pong)
        #expect(try client.call(.listTopics) == Self.required)
        #expect(
            try client.call(.publish(topic: "t", partition: nil, key: nil, value: [1], leaderEpoch: nil))
                == Self.required
        )
        guard
            case .scramServerFinal(_, let sessionID, let expiresIn) = try Self.scram(
                client,
                user: "alice",
                password: "secret-pw"
            )
        else {
            Issue.record("no ScramServerFinal")
            return
        }
        #expect(sessionID?.count == 64)
        #expect(sessionID?.allSatisfy { $0.isHexDigit } == true)
        #expect(expiresIn == 3600)
        #expect(
            try client.call(.createTopic(name: "secured", partitions: 1))
                == .topicCreated(name: "secured", partitions: 1)
        )
        #expect(
            try client.call(.publish(topic: "secured", partition: nil, key: nil, value: [1], leaderEpoch: nil))
                == .published(offset: 0, partition: 0)
        )
        #expect(
            try client.call(.handshake(protocolVersion: 2, clientID: "rivven-client"))
                == .error(message: "INTERNAL_ERROR: Unexpected request type")
        )
        // Authentication is per connection.
        let other = try RivvenTestClient(port: port)
        #expect(try other.call(.listTopics) == Self.required)
        #expect(server.records(topic: "secured", partition: 0).count == 1)
    }

    @Test(
        "a wrong password or an unknown user fails in the server-final message (e=…), and the connection stays unauthenticated"
    )
    func scramFailures() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        let failed = RivvenResponse.scramServerFinal(
            message: Array("e=Authentication failed".utf8),
            sessionID: nil,
            expiresIn: nil
        )
        #expect(try Self.scram(client, user: "alice", password: "wrong") == failed)
        #expect(try client.call(.listTopics) == Self.required)
        // An unknown user still gets a server-first message (a random salt, rivvend's 600 000 iterations).
        guard
            case .scramServerFirst(let first) = try client.call(
                .scramClientFirst(message: Array("n,,n=mallory,r=abc".utf8))
            )
        else {
            Issue.record("no ScramServerFirst")
            return
        }
        #expect(String(decoding: first, as: UTF8.self).hasSuffix(",i=600000"))
        #expect(
            try client.call(.listTopics) == .error(message: "AUTHENTICATION_REQUIRED: Complete SCRAM handshake first")
        )
        #expect(
            try client.call(.handshake(protocolVersion: 2, clientID: "c"))
                == .error(message: "AUTHENTICATION_REQUIRED: Complete SCRAM handshake first")
        )
        #expect(try Self.scram(client, user: "mallory", password: "x") == failed)
        // A final message out of turn, and a malformed first message.
        #expect(
            try client.call(.scramClientFinal(message: Array("c=biws,r=x,p=AAAA".utf8)))
                == .error(message: "SCRAM_FAILED: Invalid state - send client-first first")
        )
        #expect(
            try client.call(.scramClientFirst(message: Array("garbage".utf8)))
                == .error(message: "SCRAM_FAILED: Invalid credentials")
        )
        // A nonce that is not the combined one.
        _ = try client.call(.scramClientFirst(message: Array("n,,n=alice,r=abc".utf8)))
        #expect(
            try client.call(.scramClientFinal(message: Array("c=biws,r=abc,p=AAAA".utf8)))
                == .scramServerFinal(message: Array("e=Invalid credentials".utf8), sessionID: nil, expiresIn: nil)
        )
        // And then the right password works on the same connection.
        guard case .scramServerFinal(_, .some, .some) = try Self.scram(client, user: "alice", password: "secret-pw")
        else {
            Issue.record("login failed")
            return
        }
        #expect(try client.call(.listTopics) == .topics([]))
    }

    @Test("plaintext Authenticate (refused when the client requires TLS) and SASL/PLAIN (refused without TLS)")
    func plaintextAuthentication() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        #expect(
            try client.call(.authenticate(username: "alice", password: "secret-pw", requireTLS: true))
                == .error(
                    message:
                        "PLAINTEXT_AUTH_REQUIRES_TLS: The client requires a TLS connection for plaintext authentication. "
                        + "Use a TLS listener or switch to SCRAM-SHA-256."
                )
        )
        #expect(
            try client.call(
                .saslAuthenticate(mechanism: Array("PLAIN".utf8), authBytes: Array("\0alice\0secret-pw".utf8))
            )
                == .error(
                    message:
                        "SASL/PLAIN requires a TLS connection (use SASL_SSL listener). Sending credentials over cleartext "
                        + "is not permitted."
                )
        )
        #expect(
            try client.call(.saslAuthenticate(mechanism: Array("GSSAPI".utf8), authBytes: []))
                == .error(message: "UNSUPPORTED_MECHANISM: Only PLAIN is supported, got GSSAPI")
        )
        #expect(
            try client.call(.authenticate(username: "alice", password: "nope", requireTLS: false))
                == .error(message: "AUTHENTICATION_FAILED: Authentication failed")
        )
        #expect(
            try client.call(.authenticate(username: "bob", password: "secret-pw", requireTLS: false))
                == .error(message: "AUTHENTICATION_FAILED: Authentication failed")
        )
        guard
            case .authenticated(let sessionID, let expiresIn) = try client.call(
                .authenticate(username: "alice", password: "secret-pw", requireTLS: false)
            )
        else {
            Issue.record("not Authenticated")
            return
        }
        #expect(sessionID.count == 64 && expiresIn == 3600)
        #expect(try client.call(.listTopics) == .topics([]))
    }

    @Test("an expired session gets SESSION_EXPIRED once, then AUTHENTICATION_REQUIRED")
    func sessionExpiry() throws {
        let (server, port) = try Self.server(lifetime: .milliseconds(300))
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        guard
            case .authenticated(_, let expiresIn) = try client.call(
                .authenticate(username: "alice", password: "secret-pw", requireTLS: false)
            )
        else {
            Issue.record("not Authenticated")
            return
        }
        #expect(expiresIn == 0)
        #expect(try client.call(.listTopics) == .topics([]))
        usleepMilliseconds(400)
        #expect(try client.call(.listTopics) == .error(message: "SESSION_EXPIRED: Please re-authenticate"))
        #expect(try client.call(.listTopics) == Self.required)
    }

    @Test("a restarted server forgets sessions (new connections must log in again)")
    func restartForgetsSessions() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try RivvenTestClient(port: port)
        _ = try client.call(.authenticate(username: "alice", password: "secret-pw", requireTLS: false))
        server.stop()
        try server.start()
        let again = try RivvenTestClient(port: port)
        #expect(try again.call(.listTopics) == Self.required)
    }
}
