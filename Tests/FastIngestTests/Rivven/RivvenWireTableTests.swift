import FastIngest
import Foundation
import Testing

/// A type of WIRE.md §9's grammar.
indirect enum WireType: Equatable, CustomStringConvertible {
    case u8, u16, u32, u64, usize, i32, i64, bool, string, bytes
    case option(WireType)
    case vec(WireType)
    case map(WireType, WireType)
    case tuple([WireType])
    case named(String)

    var description: String {
        switch self {
        case .option(let inner): "option<\(inner)>"
        case .vec(let inner): "vec<\(inner)>"
        case .map(let key, let value): "map<\(key), \(value)>"
        case .tuple(let items): "(" + items.map(\.description).joined(separator: ", ") + ")"
        case .named(let name): name
        default: "\(self)".components(separatedBy: ".").last ?? "?"
        }
    }

    /// Parses one type, such as `vec<(string, bytes)>`.
    static func parse(_ text: String) throws -> WireType {
        var tokens = tokenize(text)[...]
        let type = try parseType(&tokens)
        guard tokens.isEmpty else { throw TableError(text: "trailing tokens in type `\(text)`") }
        return type
    }

    private static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var word = ""
        for character in text {
            if character.isLetter || character.isNumber || character == "_" {
                word.append(character)
                continue
            }
            if !word.isEmpty { tokens.append(word); word = "" }
            if "<>(),".contains(character) { tokens.append(String(character)) }
        }
        if !word.isEmpty { tokens.append(word) }
        return tokens
    }

    private static func expect(_ token: String, _ tokens: inout ArraySlice<String>) throws {
        guard tokens.first == token else {
            throw TableError(text: "expected `\(token)`, got `\(tokens.first ?? "end")`")
        }
        tokens.removeFirst()
    }

    private static func parseType(_ tokens: inout ArraySlice<String>) throws -> WireType {
        guard let first = tokens.popFirst() else { throw TableError(text: "type expected") }
        switch first {
        case "u8": return .u8
        case "u16": return .u16
        case "u32": return .u32
        case "u64": return .u64
        case "usize": return .usize
        case "i32": return .i32
        case "i64": return .i64
        case "bool": return .bool
        case "string": return .string
        case "bytes": return .bytes
        case "option", "vec":
            try expect("<", &tokens)
            let inner = try parseType(&tokens)
            try expect(">", &tokens)
            return first == "option" ? .option(inner) : .vec(inner)
        case "map":
            try expect("<", &tokens)
            let key = try parseType(&tokens)
            try expect(",", &tokens)
            let value = try parseType(&tokens)
            try expect(">", &tokens)
            return .map(key, value)
        case "(":
            var items = [try parseType(&tokens)]
            while tokens.first == "," {
                tokens.removeFirst()
                items.append(try parseType(&tokens))
            }
            try expect(")", &tokens)
            return .tuple(items)
        default:
            guard first.first?.isUppercase == true else { throw TableError(text: "unknown type `\(first)`") }
            return .named(first)
        }
    }
}

struct TableError: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// WIRE.md §9's machine-readable tables.
struct WireTables {
    struct Variant {
        var index: UInt32
        var name: String
        var fields: [(name: String, type: WireType)]
    }

    var structs: [String: [(name: String, type: WireType)]] = [:]
    var requests: [Variant] = []
    var responses: [Variant] = []

    static func load() throws -> WireTables {
        let path = try #require(RivvenShared.wirePath, "WIRE.md not found")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var tables = WireTables()
        for row in try rows(of: "structs", in: text) {
            tables.structs[row[0]] = try fields(row[1])
        }
        for row in try rows(of: "requests", in: text) {
            tables.requests.append(
                Variant(index: try #require(UInt32(row[0])), name: row[1], fields: try fields(row[2]))
            )
        }
        for row in try rows(of: "responses", in: text) {
            tables.responses.append(
                Variant(index: try #require(UInt32(row[0])), name: row[1], fields: try fields(row[2]))
            )
        }
        return tables
    }

    /// The cells of each data row between `<!-- table:NAME -->` and `<!-- /table -->`.
    private static func rows(of name: String, in text: String) throws -> [[String]] {
        guard let start = text.range(of: "<!-- table:\(name) -->"),
            let end = text.range(of: "<!-- /table -->", range: start.upperBound..<text.endIndex)
        else { throw TableError(text: "table \(name) not found in WIRE.md") }
        let lines = text[start.upperBound..<end.lowerBound].split(separator: "\n")
        // Skip the header row and the |---| row.
        return lines.dropFirst(2).map { line in
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    private static func fields(_ cell: String) throws -> [(name: String, type: WireType)] {
        if cell == "—" || cell.isEmpty { return [] }
        return try cell.components(separatedBy: ";").map { field in
            let parts = field.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { throw TableError(text: "bad field `\(field)`") }
            return (
                parts[0].trimmingCharacters(in: .whitespaces),
                try WireType.parse(parts[1].trimmingCharacters(in: .whitespaces))
            )
        }
    }
}

/// Builds random values of a table type: the postcard bytes (written here, independently of the codec) and the
/// sidecar-style JSON of the same value.
struct WireValueGenerator {
    var tables: WireTables
    var generator: SplitMix64

    static let alphabet: [String] = ["a", "Z", "0", "-", ".", "_", " ", "/", "é", "ß", "日", "🚀", "\u{0}", "\""]

    mutating func varint(_ value: UInt64, into out: inout [UInt8]) {
        var rest = value
        repeat {
            var byte = UInt8(rest & 0x7F)
            rest >>= 7
            if rest != 0 { byte |= 0x80 }
            out.append(byte)
        } while rest != 0
    }

    /// A random unsigned value of at most `bits` bits, spread over magnitudes.
    mutating func unsigned(bits: Int) -> UInt64 {
        let value = generator.next() >> UInt64(64 - bits)
        return value >> UInt64.random(in: 0...UInt64(bits), using: &generator)
    }

    mutating func value(_ type: WireType, into out: inout [UInt8]) throws -> JSONValue {
        switch type {
        case .u8:
            let value = UInt8.random(in: 0...255, using: &generator)
            out.append(value)
            return .int(value)
        case .u16, .u32, .u64, .usize:
            let bits = type == .u16 ? 16 : type == .u32 ? 32 : 64
            let value = unsigned(bits: bits)
            varint(value, into: &out)
            return .int(value)
        case .i32:
            let value = Int32(truncatingIfNeeded: Int64(bitPattern: unsigned(bits: 32) << 32) >> 32)
            varint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))), into: &out)
            return .int(value)
        case .i64:
            let value = Int64(bitPattern: unsigned(bits: 64))
            varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)), into: &out)
            return .int(value)
        case .bool:
            let value = Bool.random(using: &generator)
            out.append(value ? 1 : 0)
            return .bool(value)
        case .string:
            let text = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                Self.alphabet.randomElement(using: &generator)!
            }.joined()
            varint(UInt64(text.utf8.count), into: &out)
            out += Array(text.utf8)
            return .string(text)
        case .bytes:
            let bytes = (0..<Int.random(in: 0...20, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            varint(UInt64(bytes.count), into: &out)
            out += bytes
            return .bytes(bytes)
        case .option(let inner):
            guard Bool.random(using: &generator) else {
                out.append(0)
                return .null
            }
            out.append(1)
            return try value(inner, into: &out)
        case .vec(let inner):
            let count = Int.random(in: 0...3, using: &generator)
            varint(UInt64(count), into: &out)
            return .array(try (0..<count).map { _ in try value(inner, into: &out) })
        case .map(let key, let entry):
            let count = Int.random(in: 0...2, using: &generator)
            varint(UInt64(count), into: &out)
            return .array(
                try (0..<count).map { _ in .array([try value(key, into: &out), try value(entry, into: &out)]) }
            )
        case .tuple(let items):
            return .array(try items.map { try value($0, into: &out) })
        case .named(let name):
            guard let fields = tables.structs[name] else { throw TableError(text: "unknown struct \(name)") }
            return try object(fields, into: &out)
        }
    }

    mutating func object(_ fields: [(name: String, type: WireType)], into out: inout [UInt8]) throws -> JSONValue {
        var object: [String: JSONValue] = [:]
        for field in fields { object[field.name] = try value(field.type, into: &out) }
        return .object(object)
    }
}

/// Checks the codec against WIRE.md §9's tables: same variant names and indices, and for every implemented variant,
/// random values written from the table decode to the same fields and re-encode to the same bytes.
@Suite("Rivven codec against WIRE.md §9")
struct RivvenWireTableTests {
    @Test("variant names and indices are the tables'")
    func names() throws {
        let tables = try WireTables.load()
        #expect(tables.requests.map(\.index) == Array(0..<UInt32(tables.requests.count)))
        #expect(tables.responses.map(\.index) == Array(0..<UInt32(tables.responses.count)))
        #expect(tables.requests.map(\.name) == RivvenRequest.variantNames)
        #expect(tables.responses.map(\.name) == RivvenResponse.variantNames)
        #expect(tables.structs.count == 11)
    }

    @Test("every implemented request variant decodes and re-encodes random table values")
    func requests() throws {
        let tables = try WireTables.load()
        var generator = WireValueGenerator(tables: tables, generator: SplitMix64(seed: 99))
        var checked = 0
        for variant in tables.requests where RivvenRequest.implementedVariantIndices.contains(variant.index) {
            for _ in 0..<200 {
                var payload: [UInt8] = []
                generator.varint(UInt64(variant.index), into: &payload)
                let fields = try generator.object(variant.fields, into: &payload)
                let request = try RivvenRequest.decode(payload: payload[...])
                #expect(request.variantName == variant.name)
                #expect(sidecarFields(request) == fields, "\(variant.name)")
                var encoded: [UInt8] = []
                request.encodePayload(into: &encoded)
                #expect(encoded == payload, "\(variant.name)")
                var fromFields: [UInt8] = []
                try requestFromSidecar(variant: variant.name, fields: fields).encodePayload(into: &fromFields)
                #expect(fromFields == payload, "\(variant.name)")
                checked += 1
            }
        }
        #expect(checked == 200 * RivvenRequest.implementedVariantIndices.count)
    }

    @Test("every implemented response variant decodes and re-encodes random table values")
    func responses() throws {
        let tables = try WireTables.load()
        var generator = WireValueGenerator(tables: tables, generator: SplitMix64(seed: 77))
        var checked = 0
        for variant in tables.responses where RivvenResponse.implementedVariantIndices.contains(variant.index) {
            for _ in 0..<200 {
                var payload: [UInt8] = []
                generator.varint(UInt64(variant.index), into: &payload)
                let fields = try generator.object(variant.fields, into: &payload)
                let response = try RivvenResponse.decode(payload: payload[...])
                #expect(response.variantName == variant.name)
                #expect(sidecarFields(response) == fields, "\(variant.name)")
                var encoded: [UInt8] = []
                response.encodePayload(into: &encoded)
                #expect(encoded == payload, "\(variant.name)")
                var fromFields: [UInt8] = []
                try responseFromSidecar(variant: variant.name, fields: fields).encodePayload(into: &fromFields)
                #expect(fromFields == payload, "\(variant.name)")
                checked += 1
            }
        }
        #expect(checked == 200 * RivvenResponse.implementedVariantIndices.count)
    }

    @Test("the other variants, written from the tables, are refused as unsupported")
    func unsupported() throws {
        let tables = try WireTables.load()
        var generator = WireValueGenerator(tables: tables, generator: SplitMix64(seed: 5))
        for variant in tables.requests where !RivvenRequest.implementedVariantIndices.contains(variant.index) {
            var payload: [UInt8] = []
            generator.varint(UInt64(variant.index), into: &payload)
            _ = try generator.object(variant.fields, into: &payload)
            #expect(throws: RivvenCodecError(.unsupportedVariant, at: 0, value: UInt64(variant.index))) {
                try RivvenRequest.decode(payload: payload[...])
            }
        }
        for variant in tables.responses where !RivvenResponse.implementedVariantIndices.contains(variant.index) {
            var payload: [UInt8] = []
            generator.varint(UInt64(variant.index), into: &payload)
            _ = try generator.object(variant.fields, into: &payload)
            #expect(throws: RivvenCodecError(.unsupportedVariant, at: 0, value: UInt64(variant.index))) {
                try RivvenResponse.decode(payload: payload[...])
            }
        }
    }
}
