import Testing

@testable import FastIngest

/// SHA-256, HMAC-SHA-256, PBKDF2-HMAC-SHA-256, base64 and the SCRAM-SHA-256 server against published test vectors.
@Suite("RivvenTestServer: crypto for SCRAM")
struct RivvenServerCryptoTests {
    static func hexString(_ bytes: [UInt8]) -> String { hex(bytes) }
    static func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf") plus the padding boundaries.
    @Test(
        "SHA-256 test vectors",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (String(repeating: "a", count: 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (String(repeating: "a", count: 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (String(repeating: "a", count: 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        ]
    )
    func sha256(message: String, digest: String) {
        #expect(Self.hexString(RivvenSHA256.hash(Self.ascii(message))) == digest)
    }

    @Test("SHA-256 of one million 'a', fed in uneven pieces")
    func sha256Streaming() {
        var hasher = RivvenSHA256()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let count = min(piece, 1_000_000 - fed)
            hasher.update([UInt8](repeating: UInt8(ascii: "a"), count: count))
            fed += count
            piece = piece * 3 % 997 + 1
        }
        #expect(Self.hexString(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// RFC 4231 §4.2, §4.3, §4.7, §4.8.
    @Test("HMAC-SHA-256 (RFC 4231)")
    func hmac() {
        #expect(
            Self.hexString(
                RivvenHMACSHA256.authenticationCode(
                    key: [UInt8](repeating: 0x0b, count: 20),
                    message: Self.ascii("Hi There")
                )
            )
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        )
        #expect(
            Self.hexString(
                RivvenHMACSHA256.authenticationCode(
                    key: Self.ascii("Jefe"),
                    message: Self.ascii("what do ya want for nothing?")
                )
            ) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
        let longKey = [UInt8](repeating: 0xaa, count: 131)
        #expect(
            Self.hexString(
                RivvenHMACSHA256.authenticationCode(
                    key: longKey,
                    message: Self.ascii("Test Using Larger Than Block-Size Key - Hash Key First")
                )
            ) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        )
        let longData =
            "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
            + "hashed before being used by the HMAC algorithm."
        #expect(
            Self.hexString(RivvenHMACSHA256.authenticationCode(key: longKey, message: Self.ascii(longData)))
                == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        )
    }

    /// RFC 7914 §11 (the first vector) and the widely published PBKDF2-HMAC-SHA-256 vectors.
    @Test("PBKDF2-HMAC-SHA-256")
    func pbkdf2() {
        #expect(
            Self.hexString(
                RivvenPBKDF2.deriveKey(
                    password: Self.ascii("passwd"),
                    salt: Self.ascii("salt"),
                    iterations: 1,
                    keyLength: 64
                )
            )
                == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        )
        #expect(
            Self.hexString(
                RivvenPBKDF2.deriveKey(password: Self.ascii("password"), salt: Self.ascii("salt"), iterations: 1)
            )
                == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        )
        #expect(
            Self.hexString(
                RivvenPBKDF2.deriveKey(password: Self.ascii("password"), salt: Self.ascii("salt"), iterations: 4096)
            )
                == "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        )
        #expect(
            Self.hexString(
                RivvenPBKDF2.deriveKey(
                    password: Self.ascii("passwordPASSWORDpassword"),
                    salt: Self.ascii("saltSALTsaltSALTsaltSALTsaltSALTsalt"),
                    iterations: 4096,
                    keyLength: 40
                )
            ) == "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"
        )
    }

    @Test("base64: RFC 4648 §10 vectors, round trips, strict decoding")
    func base64() {
        let vectors = [
            "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(RivvenBase64.encode(Self.ascii(plain)) == encoded)
            #expect(RivvenBase64.decode(encoded) == Self.ascii(plain))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(RivvenBase64.decode(RivvenBase64.encode(all)) == all)
        for bad in ["Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "Zg==Zg==", "=Zg=", "Zm-v"] {
            #expect(RivvenBase64.decode(bad) == nil, "\(bad)")
        }
    }

    /// The SCRAM-SHA-256 example of RFC 7677 §3 (user "user", password "pencil").
    @Test("SCRAM-SHA-256 server: the RFC 7677 example")
    func scramRFC7677() throws {
        let salt = try #require(RivvenBase64.decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
        let keys = RivvenScramServer.Credentials(password: "pencil", salt: salt, iterations: 4096)
        let first = RivvenScramServer.clientFirst(
            Self.ascii("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
            credentials: { $0 == "user" ? keys : nil },
            serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            fakeSalt: { [] }
        )
        let (pending, serverFirst) = try first.get()
        #expect(
            String(decoding: serverFirst, as: UTF8.self)
                == "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        )
        let final = RivvenScramServer.clientFinal(
            Self.ascii(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            ),
            pending: pending,
            credentials: { $0 == "user" ? keys : nil }
        )
        #expect(String(decoding: try final.get(), as: UTF8.self) == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        #expect(keys.verifies(password: "pencil"))
        #expect(!keys.verifies(password: "pencil2"))
    }

    @Test("SCRAM-SHA-256 server: a wrong proof, a wrong nonce and malformed messages")
    func scramFailures() throws {
        let keys = RivvenScramServer.Credentials(password: "pw", salt: [1, 2, 3], iterations: 4096)
        let lookup: (String) -> RivvenScramServer.Credentials? = { $0 == "bob" ? keys : nil }
        let (pending, _) = try RivvenScramServer.clientFirst(
            Self.ascii("n,,n=bob,r=abc"),
            credentials: lookup,
            serverNonce: "XYZ",
            fakeSalt: { [] }
        ).get()
        let zeroProof = RivvenBase64.encode([UInt8](repeating: 0, count: 32))
        #expect(
            RivvenScramServer.clientFinal(
                Self.ascii("c=biws,r=abcXYZ,p=\(zeroProof)"),
                pending: pending,
                credentials: lookup
            )
                == .failure(.authenticationFailed)
        )
        #expect(
            RivvenScramServer.clientFinal(
                Self.ascii("c=biws,r=abcXYW,p=\(zeroProof)"),
                pending: pending,
                credentials: lookup
            )
                == .failure(.invalidCredentials)
        )
        #expect(
            RivvenScramServer.clientFinal(Self.ascii("c=biws,r=abcXYZ,p=AAAA"), pending: pending, credentials: lookup)
                == .failure(.invalidCredentials)
        )
        #expect(
            RivvenScramServer.clientFinal(Self.ascii("c=biws,r=abcXYZ"), pending: pending, credentials: lookup)
                == .failure(.invalidCredentials)
        )
        for bad in [
            Self.ascii("n,,r=abc"), Self.ascii("n,,n=bob"), Self.ascii("n=bob"), [0x6e, 0x2c, 0x2c, 0xff, 0xfe],
        ] {
            let result = RivvenScramServer.clientFirst(bad, credentials: lookup, serverNonce: "X", fakeSalt: { [] })
            #expect((try? result.get()) == nil, "\(bad)")
        }
        // Without the gs2 header the whole message is the bare part; escaped names are unescaped.
        let escaped = RivvenScramServer.clientFirst(
            Self.ascii("n=a=2Cb=3Dc,r=n1,x=y"),
            credentials: { _ in nil },
            serverNonce: "S",
            fakeSalt: { [9] }
        )
        let (escapedPending, escapedFirst) = try escaped.get()
        #expect(escapedPending.username == "a,b=c")
        #expect(String(decoding: escapedFirst, as: UTF8.self) == "r=n1S,s=CQ==,i=600000")
    }

    /// The exchange captured in fixtures 093–096 (alice / secret-pw): the proof the real client computed verifies,
    /// and the server signature equals the captured one.
    @Test("SCRAM-SHA-256 server: the captured exchange of fixtures 093–096")
    func scramCapturedExchange() throws {
        let clientFirst = try RivvenFixture.load("093_auth_scram_c2s_ScramClientFirst.hex")
        let serverFirst = try RivvenFixture.load("094_auth_scram_s2c_ScramServerFirst.hex")
        let clientFinal = try RivvenFixture.load("095_auth_scram_c2s_ScramClientFinal.hex")
        let serverFinal = try RivvenFixture.load("096_auth_scram_s2c_ScramServerFinal.hex")
        guard case .scramClientFirst(let first) = try RivvenRequest.decodeFrame(clientFirst.frame).request,
            case .scramServerFirst(let expectedFirst) = try RivvenResponse.decodeFrame(serverFirst.frame).response,
            case .scramClientFinal(let final) = try RivvenRequest.decodeFrame(clientFinal.frame).request,
            case .scramServerFinal(let expectedFinal, _, _) = try RivvenResponse.decodeFrame(serverFinal.frame).response
        else {
            Issue.record("unexpected fixture variants")
            return
        }
        let salt = try #require(RivvenBase64.decode("ZSqHRsb52eB/aSp+UUw6uw=="))
        let keys = RivvenScramServer.Credentials(password: "secret-pw", salt: salt, iterations: 4096)
        let (pending, computedFirst) = try RivvenScramServer.clientFirst(
            first,
            credentials: { $0 == "alice" ? keys : nil },
            serverNonce: "KkhzduW2/yj8IZLiSPtY7zFD",
            fakeSalt: { [] }
        ).get()
        #expect(computedFirst == expectedFirst)
        let computedFinal = try RivvenScramServer.clientFinal(
            final,
            pending: pending,
            credentials: { $0 == "alice" ? keys : nil }
        ).get()
        #expect(computedFinal == expectedFinal)
    }
}
