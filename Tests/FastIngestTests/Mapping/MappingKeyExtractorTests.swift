import Foundation
import Testing

@testable import FastIngest

@Suite("RecordKeyExtractor")
struct MappingKeyExtractorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var payload: [UInt8]
        var field: String
        /// The expected key bytes, nil for "no key".
        var key: [UInt8]?
        var note: String

        init(_ payload: String, field: String = "id", _ key: String?, _ note: String) {
            self.init(bytes: Array(payload.utf8), field: field, key: key.map { Array($0.utf8) }, note)
        }

        init(bytes: [UInt8], field: String = "id", key: [UInt8]?, _ note: String) {
            self.payload = bytes
            self.field = field
            self.key = key
            self.note = note
        }

        var testDescription: String { note }
    }

    static let strings: [Case] = [
        Case(#"{"id":"abc"}"#, "abc", "plain string"),
        Case(#"{"id":""}"#, "", "empty string is a key"),
        Case(#"{"id":"a\"b\\c\/d"}"#, #"a"b\c/d"#, "quote, backslash and slash escapes"),
        Case(#"{"id":"\b\f\n\r\t"}"#, "\u{8}\u{c}\n\r\t", "control escapes"),
        Case(#"{"id":"\u0041\u00e9\u4E2D"}"#, "Aé中", "\\u escapes of 1, 2 and 3 UTF-8 bytes, either case"),
        Case(#"{"id":"\ud83d\ude00!"}"#, "😀!", "surrogate pair"),
        Case(#"{"id":"x\uD834\uDD1Ey"}"#, "x𝄞y", "surrogate pair in upper case"),
        Case(#"{"id":"héllo 😀 中文"}"#, "héllo 😀 中文", "raw UTF-8"),
        Case(bytes: Array(#"{"id":"a\u0000b"}"#.utf8), key: [0x61, 0x00, 0x62], "escaped NUL"),
        Case(#"{"id":"\u2028"}"#, "\u{2028}", "line separator"),
        Case(#"{"id":"\\u0041"}"#, #"\u0041"#, "escaped backslash before u"),
    ]

    static let numbersAndLiterals: [Case] = [
        Case(#"{"id":42}"#, "42", "integer"),
        Case(#"{"id":0}"#, "0", "zero"),
        Case(#"{"id":-17}"#, "-17", "negative integer"),
        Case(#"{"id":-0}"#, "-0", "negative zero as written"),
        Case(#"{"id":1.50}"#, "1.50", "decimal as written"),
        Case(#"{"id":-3e2}"#, "-3e2", "exponent"),
        Case(#"{"id":2.5E+10}"#, "2.5E+10", "upper-case exponent with sign"),
        Case(#"{"id":1e-7}"#, "1e-7", "negative exponent"),
        Case(#"{"id":18446744073709551616}"#, "18446744073709551616", "beyond u64, as written"),
        Case(#"{"id":123456789012345678901234567890}"#, "123456789012345678901234567890", "long integer"),
        Case(#"{"id":true}"#, "true", "true"),
        Case(#"{"id":false}"#, "false", "false"),
        Case(#"{"id":null}"#, nil, "null is no key"),
        Case(#"{"id":1e400}"#, nil, "infinite number is invalid JSON for serde_json"),
        Case(#"{"id":01}"#, nil, "leading zero"),
        Case(#"{"id":1.}"#, nil, "no digit after the point"),
        Case(#"{"id":-}"#, nil, "lone minus"),
        Case(#"{"id":+1}"#, nil, "plus sign"),
        Case(#"{"id":tru}"#, nil, "truncated literal"),
        Case(#"{"id":nulll}"#, nil, "literal with trailing letter"),
    ]

    static let nested: [Case] = [
        Case(#"{"id":{"b":[1,2],"a":"x"}}"#, #"{"b":[1,2],"a":"x"}"#, "object keeps its key order"),
        Case(
            #"{"id": { "b" : [ 1 , 2 ,{ "c" :null}] ,"a": 1.0e1 } }"#,
            #"{"b":[1,2,{"c":null}],"a":10.0}"#,
            "object without whitespace, serde_json numbers"
        ),
        Case(#"{"id":[ 1 , "x" , true ]}"#, #"[1,"x",true]"#, "array"),
        Case(#"{"id":[]}"#, "[]", "empty array"),
        Case(#"{"id":{}}"#, "{}", "empty object"),
        Case(#"{"id":{"a":1,"a":2}}"#, #"{"a":2}"#, "duplicate keys inside the value are merged"),
        Case(#"{"id":["\u0041\/"]}"#, #"["A/"]"#, "escapes inside the value are serde_json's"),
        Case(#"{"id":[[[[[]]]]]}"#, "[[[[[]]]]]", "nested arrays"),
    ]

    static let notFound: [Case] = [
        Case(#"{"other":1}"#, nil, "missing field"),
        Case(#"{}"#, nil, "empty object"),
        Case(#"{"x":{"id":1}}"#, nil, "field only in a nested object"),
        Case(#"{"x":["id"],"y":"id"}"#, nil, "name only as a value"),
        Case(#"{"idx":1,"i":2,"ID":3}"#, nil, "near misses"),
        Case(#"[{"id":1}]"#, nil, "array payload"),
        Case(#""id""#, nil, "string payload"),
        Case("42", nil, "number payload"),
        Case("null", nil, "null payload"),
        Case("", nil, "empty payload"),
        Case("   \n", nil, "whitespace payload"),
        Case("id=1", nil, "text payload"),
        Case(bytes: [0xFF, 0x00, 0x7B], key: nil, "binary payload"),
    ]

    static let invalid: [Case] = [
        Case(#"{"id":1"#, nil, "unterminated object"),
        Case(#"{"id":1,}"#, nil, "trailing comma"),
        Case(#"{"id":1} x"#, nil, "text after the object"),
        Case(#"{"id":1}{}"#, nil, "second document"),
        Case(#"{id:1}"#, nil, "unquoted name"),
        Case(#"{"id" 1}"#, nil, "missing colon"),
        Case(#"{"id":'a'}"#, nil, "single quotes"),
        Case(#"{"id":"a\x"}"#, nil, "unknown escape"),
        Case(#"{"id":"\u12"}"#, nil, "short \\u escape"),
        Case(#"{"id":"\ud800"}"#, nil, "lone high surrogate"),
        Case(#"{"id":"\ud800\u0041"}"#, nil, "high surrogate without low"),
        Case(#"{"id":"\udc00\ud800"}"#, nil, "reversed surrogates"),
        Case(bytes: Array(#"{"id":"a"#.utf8) + [0x0A] + Array(#""}"#.utf8), key: nil, "raw newline in a string"),
        Case(
            bytes: Array(#"{"id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
            key: nil,
            "invalid UTF-8 in a string"
        ),
        Case(bytes: Array(#"{"id":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8), key: nil, "UTF-8 surrogate"),
        Case(#"{"id":1,"x":tru}"#, nil, "invalid JSON after the field"),
        Case(#"{"id":1,"x":[1,2}"#, nil, "unbalanced brackets after the field"),
        Case(#"{"x":[1,2},"id":1}"#, nil, "unbalanced brackets before the field"),
        Case(#"{"id":"abc}"#, nil, "unterminated string"),
        Case("{\"id\":1\u{0B}}", nil, "vertical tab is not JSON whitespace"),
    ]

    static let duplicatesAndNames: [Case] = [
        Case(#"{"id":1,"id":2}"#, "2", "the last duplicate wins"),
        Case(#"{"id":"a","x":0,"id":"b","y":1}"#, "b", "the last duplicate wins across members"),
        Case(#"{"id":"a","id":null}"#, nil, "a last null removes the key"),
        Case(#"{"id":null,"id":"b"}"#, "b", "a first null is replaced"),
        Case(#"{"\u0069d":"v"}"#, "v", "escaped member name"),
        Case(#"{"id":"first","\u0069\u0064":"second"}"#, "second", "escaped duplicate"),
        Case(#"{"i\"d":"v"}"#, field: #"i"d"#, "v", "name with a quote"),
        Case(#"{"a\/b":"v"}"#, field: "a/b", "v", "name with an escaped slash"),
        Case(#"{"\u00e9t\u00e9":"v"}"#, field: "été", "v", "non-ASCII name escaped"),
        Case(#"{"été":"v"}"#, field: "été", "v", "non-ASCII name raw"),
        Case(#"{"😀":"v"}"#, field: "😀", "v", "emoji name"),
        Case(#"{"\ud83d\ude00":"v"}"#, field: "😀", "v", "emoji name as surrogate pair"),
        Case(#"{"device id":"v"}"#, field: "device id", "v", "name with a space"),
        Case(#"{"":"v"}"#, field: "", "v", "empty name"),
        Case(#"{"ab":"v"}"#, field: "a", nil, "prefix of a name"),
        Case(#"{"a":"v"}"#, field: "ab", nil, "name longer than the member"),
    ]

    static let whitespace: [Case] = [
        Case(" \t\r\n{ \n\"id\" \t : \r\n \"v\" \n} \n\t", "v", "whitespace everywhere"),
        Case("{\"x\" : [ 1 ,\n 2 ] ,\r\n \"id\"\t:\t-1.5e3\t}", "-1.5e3", "whitespace around members"),
        Case("{\"id\":{ \"a\" : [ ] }}", #"{"a":[]}"#, "whitespace inside the value"),
    ]

    /// `{"a":` + depth-1 nested arrays + `,"id":"x"}`: depth containers in all.
    static func deep(_ depth: Int) -> String {
        #"{"a":"# + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1)
            + #","id":"x"}"#
    }

    static let depth: [Case] = [
        Case(deep(2), "x", "shallow nesting before the field"),
        Case(deep(127), "x", "127 nested containers before the field"),
        Case(deep(128), nil, "128 nested containers: serde_json's recursion limit"),
        Case(
            #"{"a":{"b":{"c":{"id":1,"d":[{"e":{}}]}}},"id":"top"}"#,
            "top",
            "nested objects with the same name before the field"
        ),
    ]

    @Test(
        arguments: strings + numbersAndLiterals + nested + notFound + invalid + duplicatesAndNames + whitespace + depth
    )
    func jsonField(_ row: Case) {
        var extractor = RecordKeyExtractor(.jsonField(row.field))
        let key = MappingTestSupport.key(&extractor, payload: row.payload)
        #expect(
            key == row.key,
            "got \(key.map { String(decoding: $0, as: UTF8.self) } ?? "<no key>")"
        )
    }

    /// The depth cases agree with the canonicaliser's (serde_json-verified) judgement of the same documents.
    @Test(arguments: [2, 126, 127, 128, 129])
    func depthLimitMatchesCanonicalizer(_ depth: Int) {
        let document = Array(Self.deep(depth).utf8)
        var out: [UInt8] = []
        let valid = document.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &out) }
        var extractor = RecordKeyExtractor(.jsonField("id"))
        #expect((MappingTestSupport.key(&extractor, payload: document) != nil) == valid)
    }

    @Test func otherSpecs() {
        let payload = Array(#"{"id":"v"}"#.utf8)
        var none = RecordKeyExtractor(.none)
        #expect(MappingTestSupport.key(&none, payload: payload) == nil)
        var topic = RecordKeyExtractor(.topic)
        #expect(
            MappingTestSupport.key(&topic, topic: "sensors/room1/t", payload: payload) == Array("sensors/room1/t".utf8)
        )
        #expect(MappingTestSupport.key(&topic, topic: "a", payload: []) == Array("a".utf8))
        var property = RecordKeyExtractor(.property("device"))
        #expect(MappingTestSupport.key(&property, payload: payload) == nil)
        #expect(property.spec == .property("device"))
    }

    /// `property:NAME`: the first user property of that name, exact UTF-8 bytes; no key without one.
    @Test func propertyKey() {
        var extractor = RecordKeyExtractor(.property("device"))
        func key(_ properties: [PropertyFixture], _ extractor: inout RecordKeyExtractor) -> [UInt8]? {
            var out: [UInt8] = Array("keep".utf8)
            let block = PropertyFixture.block(properties)
            let found = Array("t".utf8).withUnsafeBytes { t in
                Array(#"{"device":"json"}"#.utf8).withUnsafeBytes { p in
                    block.withUnsafeBytes { b in extractor.appendKey(topic: t, payload: p, properties: b, into: &out) }
                }
            }
            #expect(Array(out.prefix(4)) == Array("keep".utf8))
            if !found { #expect(out.count == 4) }
            return found ? Array(out.dropFirst(4)) : nil
        }
        #expect(key(PropertyFixture.full, &extractor) == Array("dev-1".utf8))
        #expect(key([.user("device", "")], &extractor) == [])
        #expect(key([.user("Device", "x"), .user("devices", "y"), .contentType("device")], &extractor) == nil)
        #expect(key([], &extractor) == nil)
        var unicode = RecordKeyExtractor(.property("naïve ключ"))
        #expect(key(PropertyFixture.full, &unicode) == Array("wert \"ü\" \\ 🚀".utf8))
        // A JSON payload member of that name is not a property.
        var json = RecordKeyExtractor(.jsonField("device"))
        #expect(key(PropertyFixture.full, &json) == Array("json".utf8))
    }

    /// One extractor reused for many payloads (its scratch storage must not leak between calls).
    @Test func reuse() {
        var extractor = RecordKeyExtractor(.jsonField("id"))
        for row in Self.nested + Self.strings + Self.invalid {
            #expect(MappingTestSupport.key(&extractor, payload: row.payload) == row.key, "\(row.note)")
        }
    }
}

/// The member scanner against the serde_json oracle table and the canonicaliser.
@Suite("RecordKeyExtractor against serde_json")
struct MappingKeyExtractorOracleTests {
    /// Each oracle payload as the value of `k`: the key is what serde_json's value gives (strings unescaped, objects
    /// and arrays compact), numbers and literals exactly as written, and no key when the payload is not JSON.
    @Test func oraclePayloadsAsMemberValues() throws {
        var extractor = RecordKeyExtractor(.jsonField("k"))
        var checked = 0
        for row in EnvelopeSerdeJSONOracleTests.rows {
            let document = Array(#"{"k":"#.utf8) + row.input + Array("}".utf8)
            var canonicalDocument: [UInt8] = []
            let documentValid = document.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &canonicalDocument) }
            let key = MappingTestSupport.key(&extractor, payload: document)
            let shown = String(decoding: row.input, as: UTF8.self)
            guard documentValid else {
                #expect(key == nil, "input \(shown)")
                continue
            }
            guard let canonical = row.canonical else {
                // Not JSON alone, but valid inside the object (`1,"x":2`): just require some key or null.
                continue
            }
            checked += 1
            let expected: [UInt8]?
            switch canonical.first {
            case UInt8(ascii: "\""):
                let string = try #require(
                    try JSONSerialization.jsonObject(with: Data(canonical), options: [.fragmentsAllowed]) as? String
                )
                expected = Array(string.utf8)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                expected = canonical
            case UInt8(ascii: "n"):
                expected = nil
            default:
                expected = Self.trimmed(row.input)
            }
            #expect(key == expected, "input \(shown)")
        }
        #expect(checked > 200)
    }

    /// Random mutations of the oracle documents: the scanner accepts exactly what the canonicaliser accepts.
    @Test func validityMatchesCanonicalizerOnMutations() {
        var random = SplitMix64(seed: 0x5EED_CAFE)
        let alphabet =
            Array(#"{}[]",:\u0dD8eE+-.0129 ntrfalse"#.utf8) + [0x0A, 0x09, 0x00, 0x1F, 0x80, 0xC3, 0xA9, 0xFF]
        var mismatches = 0
        var rejected = 0
        for row in EnvelopeSerdeJSONOracleTests.rows {
            for _ in 0..<20 {
                var document = Array(#"{"k":"#.utf8) + row.input + Array("}".utf8)
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let index = Int.random(in: 0..<document.count, using: &random)
                    let byte = alphabet.randomElement(using: &random)!
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: document[index] = byte
                    case 1: document.insert(byte, at: index)
                    default: document.remove(at: index)
                    }
                    if document.isEmpty { document = [0x7B] }
                }
                var canonical: [UInt8] = []
                let valid = document.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &canonical) }
                let lookup = document.withUnsafeBytes { bytes in
                    Array("k".utf8).withUnsafeBytes { JSONMemberScanner.findMember($0, in: bytes) }
                }
                let startsWithObject = document.first(where: { ![0x20, 0x0A, 0x09, 0x0D].contains($0) }) == 0x7B
                guard startsWithObject else {
                    #expect(lookup == .notObject)
                    continue
                }
                if valid == (lookup == .invalid) {
                    mismatches += 1
                    Issue.record("scanner says \(lookup), canonicaliser \(valid): \(document)")
                }
                if !valid { rejected += 1 }
            }
        }
        #expect(mismatches == 0)
        // The mutations must exercise both outcomes.
        #expect(rejected > 1000)
        #expect(rejected < EnvelopeSerdeJSONOracleTests.rows.count * 20 - 1000)
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }
        return Array(bytes.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
