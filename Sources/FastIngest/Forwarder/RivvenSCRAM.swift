/// The client side of a SCRAM-SHA-256 login on a Rivven connection (RFC 5802/7677, WIRE.md §6): client-first,
/// server-first, client-final, server-final; the server's signature is verified.
enum RivvenSCRAM {
    /// Logs in through `exchange` (which sends one request and returns its reply). Returns nil on success, otherwise
    /// why it failed in words; an error thrown by `exchange` is returned as its description.
    static func authenticate<Failure: Error>(
        username: String,
        password: String,
        server: String,
        exchange: (RivvenRequest) throws(Failure) -> RivvenResponse
    ) -> String? {
        do throws(Failure) {
            return try run(username: username, password: password, server: server, exchange: exchange)
        } catch {
            return "\(error)"
        }
    }

    private static func run<Failure: Error>(
        username: String,
        password: String,
        server: String,
        exchange: (RivvenRequest) throws(Failure) -> RivvenResponse
    ) throws(Failure) -> String? {
        var nonceBytes = [UInt8](repeating: 0, count: 24)
        var generator = SystemRandomNumberGenerator()
        for i in nonceBytes.indices { nonceBytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let clientNonce = RivvenBase64.encode(nonceBytes)
        let escapedUser = escape(username)
        let clientFirstBare = "n=\(escapedUser),r=\(clientNonce)"
        let first = try exchange(.scramClientFirst(message: Array(("n,," + clientFirstBare).utf8)))
        guard case .scramServerFirst(let serverFirstBytes) = first else {
            return "\(server): authentication refused: \(RivvenClient.describe(first))"
        }
        let serverFirst = String(decoding: serverFirstBytes, as: UTF8.self)
        var fields: [Character: Substring] = [:]
        for part in serverFirst.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            fields[part.first!] = part.dropFirst(2)
        }
        guard let nonce = fields["r"], nonce.hasPrefix(clientNonce), let saltText = fields["s"],
            let salt = RivvenBase64.decode(saltText), let iterationText = fields["i"],
            let iterations = Int(iterationText), iterations >= 4096
        else {
            return "\(server): malformed SCRAM server-first message"
        }
        let salted = RivvenPBKDF2.deriveKey(password: Array(password.utf8), salt: salt, iterations: iterations)
        let clientKey = RivvenHMACSHA256.authenticationCode(key: salted, message: Array("Client Key".utf8))
        let storedKey = RivvenSHA256.hash(clientKey)
        let clientFinalWithoutProof = "c=biws,r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(clientFinalWithoutProof)".utf8)
        let signature = RivvenHMACSHA256.authenticationCode(key: storedKey, message: authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let final = try exchange(
            .scramClientFinal(message: Array("\(clientFinalWithoutProof),p=\(RivvenBase64.encode(proof))".utf8))
        )
        guard case .scramServerFinal(let serverFinalBytes, let session, _) = final else {
            return "\(server): authentication refused: \(RivvenClient.describe(final))"
        }
        let serverFinal = String(decoding: serverFinalBytes, as: UTF8.self)
        if serverFinal.hasPrefix("e=") || session == nil {
            return "\(server): authentication failed for user \(username): \(serverFinal.dropFirst(2))"
        }
        let serverKey = RivvenHMACSHA256.authenticationCode(key: salted, message: Array("Server Key".utf8))
        let expected = RivvenBase64.encode(RivvenHMACSHA256.authenticationCode(key: serverKey, message: authMessage))
        guard serverFinal == "v=\(expected)" else {
            return "\(server): the broker's SCRAM signature does not verify (not the expected broker?)"
        }
        return nil
    }

    /// `=` → `=3D`, `,` → `=2C` (RFC 5802 saslname).
    private static func escape(_ name: String) -> String {
        var result = ""
        for character in name {
            switch character {
            case "=": result += "=3D"
            case ",": result += "=2C"
            default: result.append(character)
            }
        }
        return result
    }
}
