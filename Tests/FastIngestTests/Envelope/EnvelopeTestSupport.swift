import FastIngest
import Foundation

/// Helpers shared by the envelope tests.
enum EnvelopeTestSupport {
    /// `JSONPayload.appendCanonical` as text, or nil when it rejects the input. Also checks that a rejection
    /// appends nothing and that the result is appended after existing bytes.
    static func canonical(_ input: [UInt8]) -> String? {
        var out: [UInt8] = Array("prefix".utf8)
        let accepted = input.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &out) }
        let prefix = Array(out.prefix(6))
        precondition(prefix == Array("prefix".utf8), "appendCanonical changed existing bytes")
        if !accepted {
            precondition(out.count == 6, "appendCanonical appended bytes although it returned false")
            return nil
        }
        return String(decoding: out.dropFirst(6), as: UTF8.self)
    }

    static func canonical(_ input: String) -> String? {
        canonical(Array(input.utf8))
    }

    /// `JSONPayload.appendLossyString` as raw bytes.
    static func lossy(_ input: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        input.withUnsafeBytes { JSONPayload.appendLossyString($0, to: &out) }
        return out
    }

    /// Encodes one message with the given encoder and returns the bytes.
    static func encode(
        _ encoder: inout EnvelopeEncoder,
        topic: String,
        payload: [UInt8],
        qos: UInt8 = 1,
        retain: Bool = false,
        pkid: Int = 1,
        receivedAt: WallClockTime = WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_451_234),
        encodedAt: WallClockTime = WallClockTime(nanosecondsSinceEpoch: 1_795_608_000_123_456_789)
    ) -> [UInt8] {
        var out: [UInt8] = []
        let topicBytes = Array(topic.utf8)
        topicBytes.withUnsafeBytes { topicBuffer in
            payload.withUnsafeBytes { payloadBuffer in
                encoder.encode(
                    topic: topicBuffer,
                    payload: payloadBuffer,
                    qos: qos,
                    retain: retain,
                    pkid: pkid,
                    receivedAt: receivedAt,
                    encodedAt: encodedAt,
                    into: &out
                )
            }
        }
        return out
    }

    /// Parses with Foundation as an independent JSON check (fragments allowed).
    static func foundationParse(_ bytes: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    static func hexBytes(_ hex: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(hexValue(high) << 4 | hexValue(low))
        }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return c - UInt8(ascii: "A") + 10
        }
    }
}
