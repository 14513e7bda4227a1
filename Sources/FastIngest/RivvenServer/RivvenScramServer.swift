/// The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as rivvend 0.0.22's `SaslScramAuth` does it (WIRE.md §6).
/// Pure functions: the caller keeps the per-connection state and supplies nonces and fake salts.
enum RivvenScramServer {
    /// A principal's stored SCRAM keys (rivvend's `PasswordHash`).
    struct Credentials: Sendable, Hashable {
        var salt: [UInt8]
        var iterations: Int
        /// `H(HMAC(SaltedPassword, "Client Key"))`.
        var storedKey: [UInt8]
        /// `HMAC(SaltedPassword, "Server Key")`.
        var serverKey: [UInt8]

        /// Derives the keys from `password` (PBKDF2-HMAC-SHA-256, `iterations` rounds).
        init(password: String, salt: [UInt8], iterations: Int) {
            let salted = RivvenPBKDF2.deriveKey(password: Array(password.utf8), salt: salt, iterations: iterations)
            let mac = RivvenHMACSHA256(key: salted)
            let clientKey = mac.authenticationCode(for: Array("Client Key".utf8))
            self.salt = salt
            self.iterations = iterations
            storedKey = RivvenSHA256.hash(clientKey)
            serverKey = mac.authenticationCode(for: Array("Server Key".utf8))
        }

        /// Whether `password` derives the same stored key (plaintext `Authenticate`).
        func verifies(password: String) -> Bool {
            Credentials(password: password, salt: salt, iterations: iterations).storedKey == storedKey
        }
    }

    /// What the server remembers between its first and final message.
    struct Pending: Sendable, Hashable {
        var username: String
        var combinedNonce: String
        /// `client-first-message-bare,server-first-message,c=biws,r=<combined nonce>`.
        var authMessage: String
    }

    /// Why an exchange failed; the raw values are rivvend's `AuthError` texts (sent as `SCRAM_FAILED: …` or `e=…`).
    enum Failure: String, Error, Sendable {
        case invalidCredentials = "Invalid credentials"
        case authenticationFailed = "Authentication failed"
    }

    /// The iteration count announced for an unknown user (rivvend uses its real users' count, 600 000, so that
    /// unknown users cannot be told apart by timing).
    static let unknownUserIterations = 600_000

    /// Handles `client-first-message` (`n,,n=<user>,r=<nonce>`, or the bare part alone) and returns the
    /// `server-first-message` (`r=<client nonce><server nonce>,s=<salt>,i=<iterations>`).
    ///
    /// An unknown user gets a random `fakeSalt` and ``unknownUserIterations``; the exchange then fails at the final
    /// message.
    static func clientFirst(
        _ message: [UInt8],
        credentials: (String) -> Credentials?,
        serverNonce: String,
        fakeSalt: () -> [UInt8]
    ) -> Result<(Pending, [UInt8]), Failure> {
        guard let text = String(validating: message, as: UTF8.self) else { return .failure(.invalidCredentials) }
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(.invalidCredentials) }
        let bare: Substring
        if parts[0] == "n" || parts[0] == "y" || parts[0] == "p" {
            bare = parts[2]
        } else {
            bare = text[...]
        }
        var username: String?
        var clientNonce: String?
        for attribute in bare.split(separator: ",", omittingEmptySubsequences: false) {
            if attribute.hasPrefix("n=") {
                username = unescape(attribute.dropFirst(2))
            } else if attribute.hasPrefix("r=") {
                clientNonce = String(attribute.dropFirst(2))
            }
        }
        guard let username, let clientNonce else { return .failure(.invalidCredentials) }
        let salt: [UInt8]
        let iterations: Int
        if let known = credentials(username) {
            salt = known.salt
            iterations = known.iterations
        } else {
            salt = fakeSalt()
            iterations = unknownUserIterations
        }
        let combinedNonce = clientNonce + serverNonce
        let serverFirst = "r=\(combinedNonce),s=\(RivvenBase64.encode(salt)),i=\(iterations)"
        let pending = Pending(
            username: username,
            combinedNonce: combinedNonce,
            authMessage: "\(bare),\(serverFirst),c=biws,r=\(combinedNonce)"
        )
        return .success((pending, Array(serverFirst.utf8)))
    }

    /// Handles `client-final-message` (`c=<binding>,r=<nonce>,p=<proof>`) and returns the `server-final-message`
    /// (`v=<server signature>`) when the proof is right.
    static func clientFinal(
        _ message: [UInt8],
        pending: Pending,
        credentials: (String) -> Credentials?
    ) -> Result<[UInt8], Failure> {
        guard let text = String(validating: message, as: UTF8.self) else { return .failure(.invalidCredentials) }
        var binding: Substring?
        var nonce: Substring?
        var proof: Substring?
        for attribute in text.split(separator: ",", omittingEmptySubsequences: false) {
            if attribute.hasPrefix("c=") {
                binding = attribute.dropFirst(2)
            } else if attribute.hasPrefix("r=") {
                nonce = attribute.dropFirst(2)
            } else if attribute.hasPrefix("p=") {
                proof = attribute.dropFirst(2)
            }
        }
        guard binding != nil, let nonce, let proof else { return .failure(.invalidCredentials) }
        guard nonce == pending.combinedNonce else { return .failure(.invalidCredentials) }
        guard let keys = credentials(pending.username) else { return .failure(.authenticationFailed) }
        guard let clientProof = RivvenBase64.decode(proof) else { return .failure(.invalidCredentials) }
        let authMessage = Array(pending.authMessage.utf8)
        let clientSignature = RivvenHMACSHA256.authenticationCode(key: keys.storedKey, message: authMessage)
        guard clientProof.count == clientSignature.count else { return .failure(.invalidCredentials) }
        let clientKey = zip(clientProof, clientSignature).map { $0 ^ $1 }
        guard RivvenSHA256.hash(clientKey) == keys.storedKey else { return .failure(.authenticationFailed) }
        let serverSignature = RivvenHMACSHA256.authenticationCode(key: keys.serverKey, message: authMessage)
        return .success(Array("v=\(RivvenBase64.encode(serverSignature))".utf8))
    }

    /// `=2C` → `,` then `=3D` → `=` (in that order, as rivvend).
    private static func unescape(_ name: Substring) -> String {
        String(name).replacing("=2C", with: ",").replacing("=3D", with: "=")
    }
}
