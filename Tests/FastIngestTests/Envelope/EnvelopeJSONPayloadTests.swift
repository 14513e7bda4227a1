import FastIngest
import Foundation
import Testing

@Suite("JSONPayload.appendCanonical")
struct EnvelopeJSONCanonicalTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var input: String
        var expected: String
        var testDescription: String { "\(input.prefix(40)) → \(expected.prefix(40))" }
    }

    static let whitespaceAndOrder: [Case] = [
        Case(input: #" { "a" : [ 1 , 2 ] , "b" : { } } "#, expected: #"{"a":[1,2],"b":{}}"#),
        Case(input: "\t\r\n[]\n", expected: "[]"),
        Case(input: #"{"b":1,"a":2}"#, expected: #"{"b":1,"a":2}"#),
        Case(input: #"{"z":{"y":[true,false,null],"x":"w"}}"#, expected: #"{"z":{"y":[true,false,null],"x":"w"}}"#),
        // Duplicate keys: first position, last value (IndexMap insert).
        Case(input: #"{"a":1,"b":2,"a":3}"#, expected: #"{"a":3,"b":2}"#),
        Case(input: #"{"a":{"x":1},"a":[2]}"#, expected: #"{"a":[2]}"#),
        Case(input: #"{"o":{"k":1,"k":2},"p":0}"#, expected: #"{"o":{"k":2},"p":0}"#),
        Case(input: #"{"a":1,"a":2,"a":3}"#, expected: #"{"a":3}"#),
        Case(input: #"{"\u0061":1,"a":2}"#, expected: #"{"a":2}"#),
        Case(input: #"{"a":1,"b":{"a":2,"b":3,"a":4},"b":5,"c":6}"#, expected: #"{"a":1,"b":5,"c":6}"#),
        Case(input: #"[{"k":1,"k":2},{"k":3}]"#, expected: #"[{"k":2},{"k":3}]"#),
    ]

    static let strings: [Case] = [
        Case(input: #""a\/b""#, expected: #""a/b""#),
        Case(input: #""\u00e9""#, expected: "\"é\""),
        Case(input: #""\u0001""#, expected: #""\u0001""#),
        Case(input: #""\u001F""#, expected: #""\u001f""#),
        Case(input: #""\b\f\n\r\t""#, expected: #""\b\f\n\r\t""#),
        Case(input: #""\u0008\u0009\u000a\u000C\u000d""#, expected: #""\b\t\n\f\r""#),
        Case(input: #""\u0022\u005C""#, expected: #""\"\\""#),
        Case(input: #""\ud83d\ude00""#, expected: "\"😀\""),
        Case(input: #""\uD83D\uDE00""#, expected: "\"😀\""),
        Case(input: "\"é/😀\"", expected: "\"é/😀\""),
        Case(input: #""\u007f""#, expected: "\"\u{7F}\""),
        Case(input: "\"\u{7F}\"", expected: "\"\u{7F}\""),
        Case(input: #""\u2028""#, expected: "\"\u{2028}\""),
        Case(input: #"{"k\"ey":"v"}"#, expected: #"{"k\"ey":"v"}"#),
    ]

    static let numbers: [Case] = [
        Case(input: "1", expected: "1"),
        Case(input: "-1", expected: "-1"),
        Case(input: "0", expected: "0"),
        Case(input: "-0", expected: "-0.0"),
        Case(input: "-0.0", expected: "-0.0"),
        Case(input: "100", expected: "100"),
        Case(input: "1.50", expected: "1.5"),
        Case(input: "1.0", expected: "1.0"),
        Case(input: "21.5", expected: "21.5"),
        Case(input: "1e2", expected: "100.0"),
        Case(input: "1E+2", expected: "100.0"),
        Case(input: "2.5E-3", expected: "0.0025"),
        Case(input: "0.1", expected: "0.1"),
        Case(input: "0.30000000000000004", expected: "0.30000000000000004"),
        Case(input: "1e21", expected: "1e+21"),
        Case(input: "1e-7", expected: "1e-7"),
        Case(input: "1.5e-7", expected: "1.5e-7"),
        // zmij/ryu window: decimal notation for scientific exponents -5...15.
        Case(input: "1e15", expected: "1000000000000000.0"),
        Case(input: "1.5e15", expected: "1500000000000000.0"),
        Case(input: "1e16", expected: "1e+16"),
        Case(input: "1.5e16", expected: "1.5e+16"),
        Case(input: "1e-5", expected: "0.00001"),
        Case(input: "1.25e-5", expected: "0.0000125"),
        Case(input: "1e-6", expected: "1e-6"),
        Case(input: "0.000123", expected: "0.000123"),
        Case(input: "123456.789", expected: "123456.789"),
        Case(input: "1700000000.123456", expected: "1700000000.123456"),
        Case(input: "1.7976931348623157e308", expected: "1.7976931348623157e+308"),
        Case(input: "5e-324", expected: "5e-324"),
        // Needs the exact double nearest 1e126 (a Swift float literal 1e126 is one ulp low on x86-64).
        Case(input: "-3.269613972550066e-111", expected: "-3.269613972550066e-111"),
        Case(input: "1e-400", expected: "0.0"),
        Case(input: "0e999999999999", expected: "0.0"),
        Case(input: "1e-99999999999", expected: "0.0"),
        Case(input: "-1e-99999999999", expected: "-0.0"),
        // Integers that do not fit u64/i64 become floats.
        Case(input: "123456789012345678901234", expected: "1.2345678901234567e+23"),
        Case(input: "18446744073709551615", expected: "18446744073709551615"),
        Case(input: "18446744073709551616", expected: "1.8446744073709552e+19"),
        Case(input: "-9223372036854775808", expected: "-9223372036854775808"),
        Case(input: "-9223372036854775809", expected: "-9.223372036854776e+18"),
        // serde_json 1.0.149: digits past u64 are dropped (exponent 1), then the fraction digit overflows too.
        Case(input: "123456789012345678901.5", expected: "1.2345678901234567e+20"),
        // serde_json's default parser is not correctly rounded (one rounding for the u64 significand, one for the
        // power of ten); these are the doubles serde_json 1.0 really produces, one ulp off the nearest.
        Case(input: "0.11111111111111113", expected: "0.11111111111111112"),
        Case(input: "60986079010859876e-7", expected: "6098607901.085987"),
        Case(input: "72066039817343541e10", expected: "7.206603981734353e+26"),
    ]

    static let scalars: [Case] = [
        Case(input: #""str""#, expected: #""str""#),
        Case(input: "true", expected: "true"),
        Case(input: "false", expected: "false"),
        Case(input: "null", expected: "null"),
        Case(input: "42", expected: "42"),
        Case(input: " 42 ", expected: "42"),
        Case(input: #""""#, expected: #""""#),
    ]

    @Test(arguments: whitespaceAndOrder)
    func whitespaceKeyOrderAndDuplicates(_ c: Case) {
        #expect(EnvelopeTestSupport.canonical(c.input) == c.expected)
    }

    @Test(arguments: strings)
    func stringEscapes(_ c: Case) {
        #expect(EnvelopeTestSupport.canonical(c.input) == c.expected)
    }

    @Test(arguments: numbers)
    func numberForms(_ c: Case) {
        #expect(EnvelopeTestSupport.canonical(c.input) == c.expected)
    }

    @Test(arguments: scalars)
    func topLevelScalars(_ c: Case) {
        #expect(EnvelopeTestSupport.canonical(c.input) == c.expected)
    }

    static let invalid: [String] = [
        "{", #"{"a":1,}"#, "[1,]", "01", "-01", ".5", "NaN", "Infinity", "-Infinity", "1e400", "-1e400",
        #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, "1.", "1e", "1.5e", "-", "+1", "tru", "nulll",
        #""a"#, #""\x""#, "\"a\nb\"", "\"a\u{1}\"", #"{"a" 1}"#, "{1:2}", "[1 2]", #""""""#, "\u{FEFF}{}", "{} {}",
        #""\u12""#, "", "  ", "[", "]", "}", "[1}", #"{"a":1]"#, "'a'", "1 2",
    ]

    @Test(arguments: invalid)
    func invalidJSONIsRejected(_ input: String) {
        #expect(EnvelopeTestSupport.canonical(input) == nil)
    }

    @Test func invalidUTF8InsideStringIsRejected() {
        #expect(EnvelopeTestSupport.canonical([0x22, 0xFF, 0x22]) == nil)
        #expect(EnvelopeTestSupport.canonical([0x22, 0xED, 0xA0, 0x80, 0x22]) == nil)
        #expect(EnvelopeTestSupport.canonical([0x22, 0xC3, 0x22]) == nil)
        #expect(EnvelopeTestSupport.canonical([0x22, 0xC3, 0xA9, 0x22]) == "\"é\"")
    }

    @Test func nestingLimitIs127Levels() {
        let ok = String(repeating: "[", count: 127) + String(repeating: "]", count: 127)
        #expect(EnvelopeTestSupport.canonical(ok) == ok)
        for depth in [128, 129] {
            let deep = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            #expect(EnvelopeTestSupport.canonical(deep) == nil, "depth \(depth)")
        }
        let objects = String(repeating: #"{"a":"#, count: 127) + "1" + String(repeating: "}", count: 127)
        #expect(EnvelopeTestSupport.canonical(objects) == objects)
        let tooDeep = String(repeating: #"{"a":"#, count: 128) + "1" + String(repeating: "}", count: 128)
        #expect(EnvelopeTestSupport.canonical(tooDeep) == nil)
    }

    @Test func manyKeysAndManyDuplicatesStayCorrect() {
        // Exercises the duplicate-key table growth: 5000 distinct keys, then every even key again.
        var input = "{"
        var expectedPairs: [(String, Int)] = []
        for i in 0..<5000 {
            if i > 0 { input += "," }
            input += "\"k\(i)\":\(i)"
            expectedPairs.append(("k\(i)", i))
        }
        for i in stride(from: 0, to: 5000, by: 2) {
            input += ",\"k\(i)\":\(i + 100_000)"
            expectedPairs[i].1 = i + 100_000
        }
        input += "}"
        let expected = "{" + expectedPairs.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        #expect(EnvelopeTestSupport.canonical(input) == expected)
    }

    @Test func warmCanonicalizerGivesSameResultsAcrossMessages() {
        // The encoder reuses its scratch storage; results must not depend on earlier messages.
        var encoder = EnvelopeEncoder(brokerURL: "b", clientID: "c", parseJSONPayload: true, includeMetadata: false)
        let payloads = [#"{"a":1,"a":2}"#, #"{"x":{"a":1},"a":3}"#, #"{"a":1,"b":2}"#, #"{"b":1,"a":[{"b":2,"b":3}]}"#]
        let expected = [#"{"a":2}"#, #"{"x":{"a":1},"a":3}"#, #"{"a":1,"b":2}"#, #"{"b":1,"a":[{"b":3}]}"#]
        for round in 0..<3 {
            for (payload, want) in zip(payloads, expected) {
                let bytes = EnvelopeTestSupport.encode(&encoder, topic: "t", payload: Array(payload.utf8))
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(text.contains(#""payload":"# + want + #","qos""#), "round \(round): \(text)")
            }
        }
    }

    @Test func everyPowerOfTenIsTheNearestDouble() {
        // `1eN` is 1 × POW10[N] in serde_json: exactly the double nearest 10^N.
        for exponent in 0...308 {
            let input = "1e\(exponent)"
            let out = EnvelopeTestSupport.canonical(input)
            #expect(out.flatMap { Double($0) } == Double(input), "\(input) -> \(out ?? "nil")")
        }
        #expect(EnvelopeTestSupport.canonical("1e309") == nil)
    }

    @Test func floatsParseToSerdeJSONsDoubleAndPrintShortest() {
        // Every result must parse back (Foundation) to the same double serde_json's algorithm produced.
        for input in ["0.1", "1e21", "1e-7", "123.456", "-2.5e-3", "9007199254740993"] {
            let out = EnvelopeTestSupport.canonical(input)
            #expect(out != nil)
            if let out, let value = Double(out), let reference = Double(input) {
                // Short inputs (<= 19 digits, |exponent| <= 22) are exact in serde_json's algorithm.
                #expect(value == reference, "\(input) -> \(out)")
            }
        }
    }
}

@Suite("serde_json differential table")
struct EnvelopeSerdeJSONOracleTests {
    struct Row: Sendable {
        var input: [UInt8]
        var canonical: [UInt8]?
        var lossy: [UInt8]
    }

    static let rows: [Row] = SerdeJSONOracleCases.table.split(separator: "\n").map { line in
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        return Row(
            input: EnvelopeTestSupport.hexBytes(parts[0]),
            canonical: parts[1] == "-" ? nil : EnvelopeTestSupport.hexBytes(parts[1]),
            lossy: EnvelopeTestSupport.hexBytes(parts[2])
        )
    }

    @Test func tableIsLoaded() {
        #expect(Self.rows.count > 400)
        #expect(Self.rows.contains { $0.canonical == nil })
        #expect(Self.rows.contains { $0.canonical != nil })
    }

    @Test func canonicalMatchesSerdeJSON() {
        var mismatches = 0
        for row in Self.rows {
            var out: [UInt8] = []
            let accepted = row.input.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &out) }
            let got: [UInt8]? = accepted ? out : nil
            if got != row.canonical {
                mismatches += 1
                Issue.record(
                    """
                    input:    \(String(decoding: row.input, as: UTF8.self))
                    expected: \(row.canonical.map { String(decoding: $0, as: UTF8.self) } ?? "<not JSON>")
                    got:      \(got.map { String(decoding: $0, as: UTF8.self) } ?? "<not JSON>")
                    """
                )
            }
            if let got {
                #expect(EnvelopeTestSupport.foundationParse(got) != nil, "Foundation rejects output")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func lossyStringMatchesSerdeJSON() {
        for row in Self.rows {
            #expect(EnvelopeTestSupport.lossy(row.input) == row.lossy)
        }
    }
}

@Suite("JSONPayload lossy UTF-8")
struct EnvelopeJSONLossyStringTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [UInt8]
        var expected: String  // JSON text, quotes included
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "ascii", input: Array("hello".utf8), expected: #""hello""#),
        Case(name: "empty", input: [], expected: #""""#),
        Case(
            name: "escapes",
            input: [0x22, 0x5C, 0x2F, 0x0A, 0x01, 0x1F, 0x7F],
            expected: "\"\\\"\\\\/\\n\\u0001\\u001f\u{7F}\""
        ),
        Case(name: "valid multibyte", input: Array("é😀中".utf8), expected: "\"é😀中\""),
        Case(name: "lone continuation", input: [0x61, 0x80, 0x62], expected: "\"a\u{FFFD}b\""),
        Case(name: "truncated 3-byte at end", input: [0xE2, 0x82], expected: "\"\u{FFFD}\""),
        Case(name: "truncated 3-byte then ASCII", input: [0xE2, 0x82, 0x41], expected: "\"\u{FFFD}A\""),
        Case(name: "truncated 4-byte", input: [0xF0, 0x9F, 0x98], expected: "\"\u{FFFD}\""),
        Case(name: "truncated 4-byte then valid", input: [0xF0, 0x9F, 0x98, 0xC3, 0xA9], expected: "\"\u{FFFD}é\""),
        Case(name: "overlong 2-byte", input: [0xC0, 0xAF], expected: "\"\u{FFFD}\u{FFFD}\""),
        Case(name: "overlong 3-byte", input: [0xE0, 0x80, 0xAF], expected: "\"\u{FFFD}\u{FFFD}\u{FFFD}\""),
        Case(
            name: "overlong 4-byte",
            input: [0xF0, 0x80, 0x80, 0xAF],
            expected: "\"\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\""
        ),
        Case(name: "UTF-8 encoded surrogate", input: [0xED, 0xA0, 0x80], expected: "\"\u{FFFD}\u{FFFD}\u{FFFD}\""),
        Case(
            name: "above U+10FFFF",
            input: [0xF4, 0x90, 0x80, 0x80],
            expected: "\"\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\""
        ),
        Case(name: "F5 lead", input: [0xF5, 0x80], expected: "\"\u{FFFD}\u{FFFD}\""),
        Case(name: "FF FE", input: [0xFF, 0xFE], expected: "\"\u{FFFD}\u{FFFD}\""),
        Case(name: "max scalar", input: [0xF4, 0x8F, 0xBF, 0xBF], expected: "\"\u{10FFFF}\""),
        Case(name: "lead then lead", input: [0xC3, 0xC3, 0xA9], expected: "\"\u{FFFD}é\""),
    ]

    @Test(arguments: cases)
    func lossyDecoding(_ c: Case) {
        #expect(EnvelopeTestSupport.lossy(c.input) == Array(c.expected.utf8))
    }

    @Test(arguments: cases)
    func validityMatchesSwift(_ c: Case) {
        let valid = c.input.withUnsafeBytes { JSONPayload.isValidUTF8($0) }
        #expect(valid == (String(validating: c.input, as: UTF8.self) != nil))
    }

    @Test func randomBytesMatchSwiftsMaximalSubpartDecoding() {
        // Swift's String(decoding:) also replaces maximal subparts (Unicode 6.0 §3.9), like Rust's lossy decoder.
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<3000 {
            let length = Int(generator.next() % 12)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                let r = generator.next()
                // Bias towards bytes that form or break multi-byte sequences.
                let pool: [UInt8] = [
                    0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5,
                    0xFF,
                ]
                bytes.append(r & 1 == 0 ? pool[Int((r >> 1) % UInt64(pool.count))] : UInt8(truncatingIfNeeded: r >> 8))
            }
            let swiftDecoded = String(decoding: bytes, as: UTF8.self)
            let got = EnvelopeTestSupport.lossy(bytes)
            let parsed = EnvelopeTestSupport.foundationParse(got) as? String
            #expect(parsed == swiftDecoded, "bytes \(bytes)")
            let valid = bytes.withUnsafeBytes { JSONPayload.isValidUTF8($0) }
            #expect(valid == (String(validating: bytes, as: UTF8.self) != nil), "bytes \(bytes)")
        }
    }
}
