/// Re-serialises a JSON document the way `serde_json::to_vec(&serde_json::from_slice::<Value>(bytes)?)` does
/// (serde_json 1.0.149, `preserve_order`, default number handling), writing straight into the output buffer.
///
/// The document is written in one pass as it is validated. Objects are tracked in `entries` (a stack: an object's
/// entries are popped when it closes) with a hash table over the keys of every open object, so a duplicate key is
/// found in O(1). serde_json keeps a duplicate at its first position with the last value (IndexMap `insert`); an
/// object that had a duplicate is rebuilt in place when it closes — the only case that allocates.
///
/// The scratch storage is kept between calls, so once warm the common case allocates nothing.
struct JSONCanonicalizer: Sendable {
    /// One `"key":value` written into the output.
    struct Entry: Sendable {
        /// Output offset of the owning object's `{`; unique among the open objects.
        var object: Int
        var keyStart: Int
        var keyEnd: Int
        var valueStart: Int
        var valueEnd: Int
        var hash: UInt64
        /// Index of the entry whose value this (first) occurrence of the key ends up with.
        var source: Int
        /// A later occurrence of an earlier key: written only through its first occurrence's `source`.
        var dropped: Bool
        /// Whether `hash` is set and the entry is in the table (keys of objects past `linearScanLimit` entries).
        var hashed: Bool
    }

    /// Objects with up to this many keys are checked for duplicates by direct comparison.
    static let linearScanLimit = 8

    /// serde_json's recursion limit: the 128th nested array/object is an error.
    static let recursionLimit = 128

    private var entries: [Entry] = []
    /// Open-addressing slots: `generation << 32 | (entry index + 1)`; a slot of another generation is empty.
    private var table: [UInt64] = []
    private var usedSlots = 0
    private var generation: UInt64 = 0

    init() {}

    /// Upper bound of the canonical output for `count` input bytes. Strings, literals and punctuation never grow;
    /// a number grows at most from 3 characters (`1e5`, `1.5`) to 24 (`-2.2250738585072014e-308`); `-0` becomes
    /// `-0.0`. Merging duplicate keys only shrinks an object.
    static func outputBound(_ count: Int) -> Int {
        8 * count + 8
    }

    /// Appends the canonical form of `input` and returns true, or appends nothing and returns false.
    mutating func append(_ input: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        out.appendWithin(maxCount: Self.outputBound(input.count)) { writer in
            write(input, to: &writer)
        }
    }

    /// Writes the canonical form of `input` and returns true, or writes nothing and returns false. The writer must
    /// have ``outputBound(_:)`` bytes of room.
    mutating func write(_ input: UnsafeRawBufferPointer, to writer: inout ByteWriter) -> Bool {
        let start = writer.position
        entries.removeAll(keepingCapacity: true)
        usedSlots = 0
        generation += 1
        if generation > 0xFFFF_FFFF {
            generation = 1
            for index in table.indices { table[index] = 0 }
        }
        var parser = Parser(input: input)
        do throws(JSONSyntaxError) {
            try parser.skipWhitespace()
            try parseValue(&parser, remainingDepth: Self.recursionLimit, into: &writer)
            try parser.skipWhitespace()
            guard parser.atEnd else { throw JSONSyntaxError.invalid }
            return true
        } catch {
            writer.rewind(to: start)
            return false
        }
    }

    // MARK: - Values

    private mutating func parseValue(
        _ parser: inout Parser,
        remainingDepth: Int,
        into writer: inout ByteWriter
    ) throws(JSONSyntaxError) {
        guard let byte = parser.peek() else { throw .invalid }
        switch byte {
        case UInt8(ascii: "n"):
            try parser.expectLiteral("null")
            writer.put(Literals.null)
        case UInt8(ascii: "t"):
            try parser.expectLiteral("true")
            writer.put(Literals.true)
        case UInt8(ascii: "f"):
            try parser.expectLiteral("false")
            writer.put(Literals.false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try parser.parseNumber(into: &writer)
        case UInt8(ascii: "\""):
            parser.advance()
            try parser.parseString(into: &writer)
        case UInt8(ascii: "["):
            let remaining = remainingDepth - 1
            guard remaining > 0 else { throw .invalid }
            parser.advance()
            try parseArray(&parser, remainingDepth: remaining, into: &writer)
        case UInt8(ascii: "{"):
            let remaining = remainingDepth - 1
            guard remaining > 0 else { throw .invalid }
            parser.advance()
            try parseObject(&parser, remainingDepth: remaining, into: &writer)
        default:
            throw .invalid
        }
    }

    private mutating func parseArray(
        _ parser: inout Parser,
        remainingDepth: Int,
        into writer: inout ByteWriter
    ) throws(JSONSyntaxError) {
        writer.put(UInt8(ascii: "["))
        try parser.skipWhitespace()
        if parser.peek() == UInt8(ascii: "]") {
            parser.advance()
            writer.put(UInt8(ascii: "]"))
            return
        }
        while true {
            try parseValue(&parser, remainingDepth: remainingDepth, into: &writer)
            try parser.skipWhitespace()
            switch parser.next() {
            case UInt8(ascii: ","):
                writer.put(UInt8(ascii: ","))
                try parser.skipWhitespace()
            case UInt8(ascii: "]"):
                writer.put(UInt8(ascii: "]"))
                return
            default:
                throw .invalid
            }
        }
    }

    private mutating func parseObject(
        _ parser: inout Parser,
        remainingDepth: Int,
        into writer: inout ByteWriter
    ) throws(JSONSyntaxError) {
        let objectStart = writer.position
        let base = entries.count
        var hadDuplicate = false
        writer.put(UInt8(ascii: "{"))
        try parser.skipWhitespace()
        if parser.peek() == UInt8(ascii: "}") {
            parser.advance()
            writer.put(UInt8(ascii: "}"))
            return
        }
        while true {
            guard parser.next() == UInt8(ascii: "\"") else { throw .invalid }
            let keyStart = writer.position
            try parser.parseString(into: &writer)
            let keyEnd = writer.position
            try parser.skipWhitespace()
            guard parser.next() == UInt8(ascii: ":") else { throw .invalid }
            writer.put(UInt8(ascii: ":"))

            let index = entries.count
            var entry = Entry(
                object: objectStart,
                keyStart: keyStart,
                keyEnd: keyEnd,
                valueStart: writer.position,
                valueEnd: writer.position,
                hash: 0,
                source: index,
                dropped: false,
                hashed: false
            )
            let earlier: Int?
            if index - base < Self.linearScanLimit {
                // Small object: compare with its earlier keys directly, no hashing.
                earlier = linearFind(from: base, to: index, key: keyStart..<keyEnd, in: writer.writtenBytes)
            } else {
                if index - base == Self.linearScanLimit {
                    promoteToTable(from: base, to: index, in: writer.writtenBytes)
                }
                entry.hash = Self.hash(writer.writtenBytes, keyStart..<keyEnd)
                entry.hashed = true
                earlier = findOrInsertKey(
                    index: index,
                    hash: entry.hash,
                    object: objectStart,
                    key: keyStart..<keyEnd,
                    in: writer.writtenBytes
                )
            }
            if let first = earlier {
                entries[first].source = index
                entry.dropped = true
                entry.hashed = false
                hadDuplicate = true
            }
            entries.append(entry)

            try parser.skipWhitespace()
            try parseValue(&parser, remainingDepth: remainingDepth, into: &writer)
            entries[index].valueEnd = writer.position

            try parser.skipWhitespace()
            switch parser.next() {
            case UInt8(ascii: ","):
                writer.put(UInt8(ascii: ","))
                try parser.skipWhitespace()
            case UInt8(ascii: "}"):
                writer.put(UInt8(ascii: "}"))
                if hadDuplicate {
                    rebuildObject(from: base, objectStart: objectStart, in: &writer)
                }
                entries.removeLast(entries.count - base)
                return
            default:
                throw .invalid
            }
        }
    }

    /// Rewrites the object at `objectStart` (entries `base...`) with each key once, at its first position, holding
    /// the value of its last occurrence.
    private func rebuildObject(from base: Int, objectStart: Int, in writer: inout ByteWriter) {
        var rebuilt: [UInt8] = []
        rebuilt.reserveCapacity(writer.position - objectStart)
        rebuilt.append(UInt8(ascii: "{"))
        var first = true
        for entry in entries[base...] where !entry.dropped {
            if !first { rebuilt.append(UInt8(ascii: ",")) }
            first = false
            rebuilt.append(contentsOf: writer.written(entry.keyStart..<entry.keyEnd))
            rebuilt.append(UInt8(ascii: ":"))
            let source = entries[entry.source]
            rebuilt.append(contentsOf: writer.written(source.valueStart..<source.valueEnd))
        }
        rebuilt.append(UInt8(ascii: "}"))
        // Never longer than what it replaces: dropped entries go, and each value appears once.
        writer.replaceTail(from: objectStart, with: rebuilt)
    }

    // MARK: - Duplicate-key table

    /// Returns the index of an earlier, live entry of `object` with the same key, or records entry `index`
    /// (about to be appended) in the table and returns nil.
    private mutating func findOrInsertKey(
        index: Int,
        hash: UInt64,
        object: Int,
        key: Range<Int>,
        in bytes: UnsafeBufferPointer<UInt8>
    ) -> Int? {
        if (usedSlots + 1) * 2 > table.count {
            growTable()
        }
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let value = table[slot]
            if value >> 32 != generation {
                table[slot] = generation << 32 | UInt64(index + 1)
                usedSlots += 1
                return nil
            }
            // Slots of closed objects stay behind (stale); their index may since have been reused, so every
            // field is checked. A live match is always a real earlier occurrence in this object.
            let candidate = Int(value & 0xFFFF_FFFF) - 1
            if candidate < entries.count {
                let other = entries[candidate]
                if other.object == object && other.hashed && other.hash == hash
                    && Self.bytesEqual(bytes, other.keyStart..<other.keyEnd, key)
                {
                    return candidate
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// Doubles the table and re-inserts the live first occurrences (dropping stale slots).
    private mutating func growTable() {
        var size = max(64, table.count)
        let live = entries.count + 1
        while size < live * 4 { size *= 2 }
        if table.count != size {
            table = [UInt64](repeating: 0, count: size)
        } else {
            for slotIndex in table.indices { table[slotIndex] = 0 }
        }
        usedSlots = 0
        let mask = size - 1
        for (index, entry) in entries.enumerated() where entry.hashed {
            var slot = Int(truncatingIfNeeded: entry.hash) & mask
            while table[slot] >> 32 == generation { slot = (slot + 1) & mask }
            table[slot] = generation << 32 | UInt64(index + 1)
            usedSlots += 1
        }
    }

    /// FNV-1a over the written key bytes, finished with a multiply-xorshift so the low bits index well.
    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in range {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 29
        hash &*= 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 32
        return hash
    }

    private static func bytesEqual(_ bytes: UnsafeBufferPointer<UInt8>, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        var i = a.lowerBound
        var j = b.lowerBound
        while i < a.upperBound {
            if bytes[i] != bytes[j] { return false }
            i += 1
            j += 1
        }
        return true
    }

    /// The earlier live entry in `entries[start..<end]` (one small object) whose key equals `key`, if any.
    private func linearFind(from start: Int, to end: Int, key: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Int?
    {
        for index in start..<end {
            let other = entries[index]
            if !other.dropped && Self.bytesEqual(bytes, other.keyStart..<other.keyEnd, key) {
                return index
            }
        }
        return nil
    }

    /// Moves an object that reached `linearScanLimit` keys to the hash table: hashes and inserts its live keys.
    private mutating func promoteToTable(from start: Int, to end: Int, in bytes: UnsafeBufferPointer<UInt8>) {
        for index in start..<end where !entries[index].dropped {
            let entry = entries[index]
            let hash = Self.hash(bytes, entry.keyStart..<entry.keyEnd)
            entries[index].hash = hash
            entries[index].hashed = true
            // Keys of one object are distinct here, so this only inserts.
            _ = findOrInsertKey(
                index: index,
                hash: hash,
                object: entry.object,
                key: entry.keyStart..<entry.keyEnd,
                in: bytes
            )
        }
    }
}

/// The document is not JSON (as serde_json judges it).
enum JSONSyntaxError: Error {
    case invalid
}

private enum Literals {
    static let null: [UInt8] = Array("null".utf8)
    static let `true`: [UInt8] = Array("true".utf8)
    static let `false`: [UInt8] = Array("false".utf8)
}

/// A cursor over the input with serde_json's token rules (`SliceRead` + `Deserializer`).
struct Parser {
    let input: UnsafeRawBufferPointer
    private(set) var position = 0

    init(input: UnsafeRawBufferPointer) {
        self.input = input
    }

    var atEnd: Bool { position >= input.count }

    @inline(__always)
    func peek() -> UInt8? {
        position < input.count ? input[position] : nil
    }

    @inline(__always)
    mutating func next() -> UInt8? {
        guard position < input.count else { return nil }
        defer { position += 1 }
        return input[position]
    }

    @inline(__always)
    mutating func advance() {
        position += 1
    }

    @inline(__always)
    mutating func advance(by count: Int) {
        position += count
    }

    /// JSON whitespace per serde_json: space, `\n`, `\t`, `\r`.
    @inline(__always)
    mutating func skipWhitespace() throws(JSONSyntaxError) {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x0A, 0x09, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard input.count - position >= count else { throw .invalid }
        let matches = literal.withUTF8Buffer { expected in
            for offset in 0..<count where input[position + offset] != expected[offset] {
                return false
            }
            return true
        }
        guard matches else { throw .invalid }
        position += count
    }

    // MARK: Strings

    /// Parses the rest of a string (the opening quote is consumed) and writes its canonical form, quotes included.
    mutating func parseString(into writer: inout ByteWriter) throws(JSONSyntaxError) {
        writer.put(UInt8(ascii: "\""))
        var runStart = position
        while true {
            guard position < input.count else { throw .invalid }
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                writer.put(input, from: runStart, to: position)
                position += 1
                writer.put(UInt8(ascii: "\""))
                return
            }
            if byte == UInt8(ascii: "\\") {
                writer.put(input, from: runStart, to: position)
                position += 1
                try parseEscape(into: &writer)
                runStart = position
                continue
            }
            if byte < 0x20 {
                // serde_json: "control character (\u0000-\u001F) found while parsing a string".
                throw .invalid
            }
            if byte < 0x80 {
                position += 1
                continue
            }
            // serde_json validates the decoded string with `str::from_utf8`; escapes always decode to whole
            // scalars, so validating each raw run is equivalent.
            let sequence = UTF8Sequence.classify(input, at: position)
            guard sequence.isValid else { throw .invalid }
            position += sequence.length
        }
    }

    /// Parses one escape (already past its backslash) and writes its canonical form: at most 6 bytes
    /// (`\u001f`), which lets ``JSONMemberScanner`` validate escapes with a small stack buffer.
    mutating func parseEscape(into writer: inout ByteWriter) throws(JSONSyntaxError) {
        guard let byte = next() else { throw .invalid }
        switch byte {
        case UInt8(ascii: "\""): JSONEscaping.writeEscape(for: UInt8(ascii: "\""), to: &writer)
        case UInt8(ascii: "\\"): JSONEscaping.writeEscape(for: UInt8(ascii: "\\"), to: &writer)
        case UInt8(ascii: "/"): writer.put(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): JSONEscaping.writeEscape(for: 0x08, to: &writer)
        case UInt8(ascii: "f"): JSONEscaping.writeEscape(for: 0x0C, to: &writer)
        case UInt8(ascii: "n"): JSONEscaping.writeEscape(for: 0x0A, to: &writer)
        case UInt8(ascii: "r"): JSONEscaping.writeEscape(for: 0x0D, to: &writer)
        case UInt8(ascii: "t"): JSONEscaping.writeEscape(for: 0x09, to: &writer)
        case UInt8(ascii: "u"): try parseUnicodeEscape(into: &writer)
        default: throw .invalid
        }
    }

    /// `\uXXXX` (already past `\u`): surrogate pairs are combined; a lone surrogate is an error (serde_json
    /// validates when deserialising into a `String`).
    private mutating func parseUnicodeEscape(into writer: inout ByteWriter) throws(JSONSyntaxError) {
        let unit = try hexQuad()
        let scalar: UInt32
        switch unit {
        case 0xDC00...0xDFFF:
            throw .invalid
        case 0xD800...0xDBFF:
            guard next() == UInt8(ascii: "\\"), next() == UInt8(ascii: "u") else { throw .invalid }
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw .invalid }
            scalar = ((UInt32(unit) - 0xD800) << 10 | (UInt32(low) - 0xDC00)) + 0x1_0000
        default:
            scalar = UInt32(unit)
        }
        if scalar < 0x80 {
            let byte = UInt8(truncatingIfNeeded: scalar)
            if JSONEscaping.needsEscape(byte) {
                JSONEscaping.writeEscape(for: byte, to: &writer)
            } else {
                writer.put(byte)
            }
        } else if scalar < 0x800 {
            writer.put(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        } else if scalar < 0x1_0000 {
            writer.put(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        } else {
            writer.put(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            writer.put(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        }
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt16 {
        guard input.count - position >= 4 else { throw .invalid }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = input[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw .invalid
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    // MARK: Numbers (serde_json `parse_integer` and friends, default features)

    @inline(__always)
    private static func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// serde_json's `overflow!(a * 10 + b, max)`.
    @inline(__always)
    private static func overflows(_ a: UInt64, _ digit: UInt64) -> Bool {
        a >= UInt64.max / 10 && (a > UInt64.max / 10 || digit > UInt64.max % 10)
    }

    /// Parses a number and writes it: integers that fit `u64` (or `i64` when negative) are copied verbatim
    /// (grammar forbids leading zeros, so the literal is the decimal form), everything else becomes a float.
    mutating func parseNumber(into writer: inout ByteWriter) throws(JSONSyntaxError) {
        let start = position
        var positive = true
        if peek() == UInt8(ascii: "-") {
            positive = false
            position += 1
        }
        guard let first = next() else { throw .invalid }
        var significand: UInt64
        switch first {
        case UInt8(ascii: "0"):
            // There can be only one leading '0'.
            if Self.isDigit(peek()) { throw .invalid }
            significand = 0
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            significand = UInt64(first &- UInt8(ascii: "0"))
            while let byte = peek(), Self.isDigit(byte) {
                let digit = UInt64(byte &- UInt8(ascii: "0"))
                if Self.overflows(significand, digit) {
                    let value = try parseLongInteger(positive: positive, significand: significand)
                    JSONFloat.write(value, to: &writer)
                    return
                }
                position += 1
                significand = significand * 10 + digit
            }
        default:
            throw .invalid
        }

        switch peek() {
        case UInt8(ascii: "."):
            JSONFloat.write(try parseDecimal(positive: positive, significand: significand, exponent: 0), to: &writer)
        case UInt8(ascii: "e"), UInt8(ascii: "E"):
            JSONFloat.write(try parseExponent(positive: positive, significand: significand, exponent: 0), to: &writer)
        default:
            if positive {
                writer.put(input, from: start, to: position)
            } else {
                let negated = 0 &- Int64(bitPattern: significand)
                if negated >= 0 {
                    // `-0` and magnitudes beyond i64 become floats.
                    JSONFloat.write(-Double(significand), to: &writer)
                } else {
                    writer.put(input, from: start, to: position)
                }
            }
        }
    }

    private mutating func parseDecimal(
        positive: Bool,
        significand: UInt64,
        exponent exponentBeforePoint: Int32
    ) throws(JSONSyntaxError) -> Double {
        position += 1  // '.'
        var significand = significand
        var exponentAfterPoint: Int32 = 0
        while let byte = peek(), Self.isDigit(byte) {
            let digit = UInt64(byte &- UInt8(ascii: "0"))
            if Self.overflows(significand, digit) {
                // Further digits are ignored (truncated, not rounded).
                while Self.isDigit(peek()) { position += 1 }
                let exponent = exponentBeforePoint &+ exponentAfterPoint
                return try finishAfterDigits(positive: positive, significand: significand, exponent: exponent)
            }
            position += 1
            significand = significand * 10 + digit
            exponentAfterPoint -= 1
        }
        // At least one digit after the decimal point.
        guard exponentAfterPoint != 0 else { throw .invalid }
        let exponent = exponentBeforePoint &+ exponentAfterPoint
        return try finishAfterDigits(positive: positive, significand: significand, exponent: exponent)
    }

    private mutating func finishAfterDigits(
        positive: Bool,
        significand: UInt64,
        exponent: Int32
    ) throws(JSONSyntaxError) -> Double {
        switch peek() {
        case UInt8(ascii: "e"), UInt8(ascii: "E"):
            return try parseExponent(positive: positive, significand: significand, exponent: exponent)
        default:
            return try Self.fromParts(positive: positive, significand: significand, exponent: exponent)
        }
    }

    private mutating func parseExponent(
        positive: Bool,
        significand: UInt64,
        exponent startingExponent: Int32
    ) throws(JSONSyntaxError) -> Double {
        position += 1  // 'e' or 'E'
        var positiveExponent = true
        switch peek() {
        case UInt8(ascii: "+"): position += 1
        case UInt8(ascii: "-"):
            position += 1
            positiveExponent = false
        default: break
        }
        guard let first = next(), Self.isDigit(first) else { throw .invalid }
        var exponent = Int32(first &- UInt8(ascii: "0"))
        while let byte = peek(), Self.isDigit(byte) {
            position += 1
            let digit = Int32(byte &- UInt8(ascii: "0"))
            if exponent >= Int32.max / 10 && (exponent > Int32.max / 10 || digit > Int32.max % 10) {
                // serde_json `parse_exponent_overflow`: infinity is an error, everything else is ±0.
                if significand != 0 && positiveExponent { throw .invalid }
                while Self.isDigit(peek()) { position += 1 }
                return positive ? 0.0 : -0.0
            }
            exponent = exponent * 10 + digit
        }
        let finalExponent: Int32
        if positiveExponent {
            let (sum, overflow) = startingExponent.addingReportingOverflow(exponent)
            finalExponent = overflow ? Int32.max : sum
        } else {
            let (difference, overflow) = startingExponent.subtractingReportingOverflow(exponent)
            finalExponent = overflow ? Int32.min : difference
        }
        return try Self.fromParts(positive: positive, significand: significand, exponent: finalExponent)
    }

    /// serde_json `parse_long_integer` (default features): the digits that no longer fit only scale the value.
    private mutating func parseLongInteger(positive: Bool, significand: UInt64) throws(JSONSyntaxError) -> Double {
        var exponent: Int32 = 0
        while true {
            switch peek() {
            case .some(UInt8(ascii: "0")...UInt8(ascii: "9")):
                position += 1
                exponent &+= 1
            case UInt8(ascii: "."):
                return try parseDecimal(positive: positive, significand: significand, exponent: exponent)
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                return try parseExponent(positive: positive, significand: significand, exponent: exponent)
            default:
                return try Self.fromParts(positive: positive, significand: significand, exponent: exponent)
            }
        }
    }

    private static func fromParts(
        positive: Bool,
        significand: UInt64,
        exponent: Int32
    ) throws(JSONSyntaxError) -> Double {
        guard let value = JSONFloat.fromParts(positive: positive, significand: significand, exponent: exponent) else {
            throw .invalid
        }
        return value
    }
}
