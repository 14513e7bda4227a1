/// SHA-256 (FIPS 180-4), HMAC-SHA-256 (RFC 2104) and PBKDF2-HMAC-SHA-256 (RFC 8018), just enough for the test
/// server's SCRAM-SHA-256 (RFC 5802/7677). The package has no crypto library and the server needs none elsewhere; this
/// is not constant-time and not meant for production secrets.
struct RivvenSHA256 {
    /// Bytes in a digest.
    static let digestLength = 32
    /// Bytes in a block.
    static let blockLength = 64

    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    /// The chaining state H0…H7.
    private var state: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    /// Bytes not yet compressed (fewer than a block).
    private var pending: [UInt8] = []
    /// Bytes fed so far.
    private var byteCount: UInt64 = 0
    /// The message schedule, kept to avoid an allocation per block.
    private var schedule = [UInt32](repeating: 0, count: 64)

    init() {
        pending.reserveCapacity(Self.blockLength)
    }

    /// The digest of `bytes`.
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = RivvenSHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Feeds more message bytes.
    mutating func update(_ bytes: [UInt8]) {
        byteCount &+= UInt64(bytes.count)
        var index = 0
        if !pending.isEmpty {
            let take = min(Self.blockLength - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            index = take
            if pending.count == Self.blockLength {
                compress(pending, at: 0)
                pending.removeAll(keepingCapacity: true)
            }
        }
        while bytes.count - index >= Self.blockLength {
            compress(bytes, at: index)
            index += Self.blockLength
        }
        if index < bytes.count {
            pending.append(contentsOf: bytes[index...])
        }
    }

    /// Pads, compresses the last block(s) and returns the 32-byte digest.
    mutating func finalize() -> [UInt8] {
        let bitLength = byteCount &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % Self.blockLength != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        var index = 0
        while index < tail.count {
            compress(tail, at: index)
            index += Self.blockLength
        }
        pending.removeAll()
        var digest: [UInt8] = []
        digest.reserveCapacity(Self.digestLength)
        for word in state {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    private static func rotateRight(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value >> count) | (value << (32 - count))
    }

    /// Compresses the 64-byte block of `bytes` starting at `start` into `state`.
    private mutating func compress(_ bytes: [UInt8], at start: Int) {
        for t in 0..<16 {
            let i = start + 4 * t
            schedule[t] =
                UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
        }
        for t in 16..<64 {
            let w15 = schedule[t - 15]
            let w2 = schedule[t - 2]
            let s0 = Self.rotateRight(w15, 7) ^ Self.rotateRight(w15, 18) ^ (w15 >> 3)
            let s1 = Self.rotateRight(w2, 17) ^ Self.rotateRight(w2, 19) ^ (w2 >> 10)
            schedule[t] = schedule[t - 16] &+ s0 &+ schedule[t - 7] &+ s1
        }
        var a = state[0]
        var b = state[1]
        var c = state[2]
        var d = state[3]
        var e = state[4]
        var f = state[5]
        var g = state[6]
        var h = state[7]
        for t in 0..<64 {
            let s1 = Self.rotateRight(e, 6) ^ Self.rotateRight(e, 11) ^ Self.rotateRight(e, 25)
            let choose = (e & f) ^ (~e & g)
            let temp1 = h &+ s1 &+ choose &+ Self.roundConstants[t] &+ schedule[t]
            let s0 = Self.rotateRight(a, 2) ^ Self.rotateRight(a, 13) ^ Self.rotateRight(a, 22)
            let majority = (a & b) ^ (a & c) ^ (b & c)
            let temp2 = s0 &+ majority
            h = g
            g = f
            f = e
            e = d &+ temp1
            d = c
            c = b
            b = a
            a = temp1 &+ temp2
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
        state[5] &+= f
        state[6] &+= g
        state[7] &+= h
    }
}

/// HMAC-SHA-256 with the key's inner and outer pads absorbed once, so one key can authenticate many messages cheaply
/// (PBKDF2 runs thousands of them with the same key).
struct RivvenHMACSHA256 {
    private let inner: RivvenSHA256
    private let outer: RivvenSHA256

    /// Prepares the pads for `key` (a key longer than a block is hashed first, RFC 2104).
    init(key: [UInt8]) {
        var block = key.count > RivvenSHA256.blockLength ? RivvenSHA256.hash(key) : key
        block.append(contentsOf: [UInt8](repeating: 0, count: RivvenSHA256.blockLength - block.count))
        var inner = RivvenSHA256()
        inner.update(block.map { $0 ^ 0x36 })
        var outer = RivvenSHA256()
        outer.update(block.map { $0 ^ 0x5c })
        self.inner = inner
        self.outer = outer
    }

    /// The 32-byte MAC of `message`.
    func authenticationCode(for message: [UInt8]) -> [UInt8] {
        var inner = self.inner
        inner.update(message)
        var outer = self.outer
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// The MAC of `message` under `key`.
    static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        RivvenHMACSHA256(key: key).authenticationCode(for: message)
    }
}

/// PBKDF2 with HMAC-SHA-256 as the pseudo-random function (RFC 8018 §5.2).
enum RivvenPBKDF2 {
    /// Derives `keyLength` bytes from `password` and `salt` with `iterations` rounds (≥ 1).
    static func deriveKey(password: [UInt8], salt: [UInt8], iterations: Int, keyLength: Int = 32) -> [UInt8] {
        precondition(iterations >= 1, "PBKDF2: at least one iteration")
        precondition(keyLength >= 1, "PBKDF2: empty key")
        let prf = RivvenHMACSHA256(key: password)
        var derived: [UInt8] = []
        derived.reserveCapacity(keyLength)
        var blockIndex: UInt32 = 1
        while derived.count < keyLength {
            var message = salt
            message.append(UInt8(truncatingIfNeeded: blockIndex >> 24))
            message.append(UInt8(truncatingIfNeeded: blockIndex >> 16))
            message.append(UInt8(truncatingIfNeeded: blockIndex >> 8))
            message.append(UInt8(truncatingIfNeeded: blockIndex))
            var u = prf.authenticationCode(for: message)
            var block = u
            for _ in 1..<iterations {
                u = prf.authenticationCode(for: u)
                for i in 0..<block.count { block[i] ^= u[i] }
            }
            derived.append(contentsOf: block.prefix(keyLength - derived.count))
            blockIndex &+= 1
        }
        return derived
    }
}

/// Standard base64 (RFC 4648 §4) with padding, as Rust's `base64::engine::general_purpose::STANDARD` writes and
/// strictly reads it (no whitespace, padding required, unused trailing bits must be zero).
enum RivvenBase64 {

    /// Encodes `bytes` (the envelope's encoder: one base64 writer in the package).
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { Base64.append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `text`, or returns nil when it is not canonical padded base64.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return nil }
        func value(_ character: UInt8) -> UInt32? {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(character - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(character - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): 62
            case UInt8(ascii: "/"): 63
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 4 * 3)
        var index = 0
        while index < characters.count {
            let isLast = index + 4 == characters.count
            let padding = isLast ? characters[index..<index + 4].reversed().prefix { $0 == UInt8(ascii: "=") }.count : 0
            guard padding <= 2 else { return nil }
            var group: UInt32 = 0
            for offset in 0..<4 {
                if offset >= 4 - padding {
                    group <<= 6
                    continue
                }
                guard let sextet = value(characters[index + offset]) else { return nil }
                group = group << 6 | sextet
            }
            out.append(UInt8(truncatingIfNeeded: group >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: group >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: group)) }
            // Canonical form: the bits the padding stands for must be zero.
            if padding == 1 && group & 0xFF != 0 { return nil }
            if padding == 2 && group & 0xFFFF != 0 { return nil }
            index += 4
        }
        return out
    }
}
