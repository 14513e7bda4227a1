/// The kind of a JSON value found by ``JSONMemberScanner``.
enum JSONValueKind: Sendable, Equatable {
    case string, number, boolean, null, object, array
}

/// A value inside a document: its kind and where its source text is (for a string, the quotes included).
struct JSONValueSpan: Sendable, Equatable {
    var kind: JSONValueKind
    var range: Range<Int>

    /// The bytes between the quotes of a string value.
    var stringContent: Range<Int> {
        (range.lowerBound + 1)..<(range.upperBound - 1)
    }
}

/// The outcome of looking a member up in a JSON document.
enum JSONMemberLookup: Sendable, Equatable {
    /// The document is a JSON object with the member; with duplicate names, the last one.
    case found(JSONValueSpan)
    /// The document is a JSON object without the member.
    case missing
    /// The document does not start with `{` (after whitespace): an array, a scalar, empty, or not JSON at all.
    case notObject
    /// The document starts like an object but is not valid JSON as serde_json judges it.
    case invalid
}

/// Finds a top-level member of a JSON object while validating the whole document, without building a tree and
/// without allocating.
///
/// Validity follows `serde_json::from_slice::<Value>` exactly like ``JSONCanonicalizer`` (whose ``Parser`` it
/// uses): whitespace is space, tab, CR and LF; strings must be valid UTF-8 without raw control characters, escapes
/// are the JSON ones and a `\u` surrogate must be a proper pair; numbers follow the JSON grammar and must be finite
/// as serde_json reads them (`1e400` is an error); the 128th nested array or object is an error; nothing but
/// whitespace may follow the document.
enum JSONMemberScanner {
    /// Looks up the top-level member whose name, unescaped, equals the UTF-8 bytes `name`.
    static func findMember(_ name: UnsafeRawBufferPointer, in input: UnsafeRawBufferPointer) -> JSONMemberLookup {
        var cursor = Parser(input: input)
        do throws(JSONSyntaxError) {
            // Whitespace never fails; the `{` check comes before any validation.
            try cursor.skipWhitespace()
            guard cursor.peek() == UInt8(ascii: "{") else { return .notObject }
            cursor.advance()
            var found: JSONValueSpan?
            try cursor.skipWhitespace()
            if cursor.peek() == UInt8(ascii: "}") {
                cursor.advance()
            } else {
                members: while true {
                    guard cursor.next() == UInt8(ascii: "\"") else { throw .invalid }
                    let nameStart = cursor.position
                    try cursor.scanString()
                    let matches = stringContent(nameStart..<(cursor.position - 1), in: input, equals: name)
                    try cursor.skipWhitespace()
                    guard cursor.next() == UInt8(ascii: ":") else { throw .invalid }
                    try cursor.skipWhitespace()
                    let valueStart = cursor.position
                    // The root object used one level of serde_json's recursion budget.
                    let kind = try cursor.scanValue(remainingDepth: JSONCanonicalizer.recursionLimit - 1)
                    if matches {
                        found = JSONValueSpan(kind: kind, range: valueStart..<cursor.position)
                    }
                    try cursor.skipWhitespace()
                    switch cursor.next() {
                    case UInt8(ascii: ","): try cursor.skipWhitespace()
                    case UInt8(ascii: "}"): break members
                    default: throw .invalid
                    }
                }
            }
            try cursor.skipWhitespace()
            guard cursor.atEnd else { throw .invalid }
            if let found { return .found(found) }
            return .missing
        } catch {
            return .invalid
        }
    }

    // MARK: - Decoding validated strings

    /// Calls `body` with the unescaped UTF-8 of the string content at `range` (between the quotes of a string that
    /// ``findMember(_:in:)`` validated), in order, as runs of source bytes and single decoded escapes. Stops early,
    /// returning false, when `body` does.
    @discardableResult
    static func forEachUnescapedChunk(
        _ range: Range<Int>,
        in input: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        var index = range.lowerBound
        var runStart = index
        let end = range.upperBound
        while index < end {
            guard input[index] == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            if runStart < index, !body(UnsafeRawBufferPointer(rebasing: input[runStart..<index])) { return false }
            // Decode one escape into at most four bytes.
            var scratch: UInt32 = 0
            let (length, consumed) = withUnsafeMutableBytes(of: &scratch) { bytes in
                decodeEscape(at: index, in: input, into: bytes)
            }
            let keepGoing = withUnsafeBytes(of: &scratch) { bytes in
                body(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
            }
            if !keepGoing { return false }
            index += consumed
            runStart = index
        }
        if runStart < end, !body(UnsafeRawBufferPointer(rebasing: input[runStart..<end])) { return false }
        return true
    }

    /// Whether the unescaped string content at `range` equals `name`.
    static func stringContent(
        _ range: Range<Int>,
        in input: UnsafeRawBufferPointer,
        equals name: UnsafeRawBufferPointer
    ) -> Bool {
        // Escapes only ever shrink the text, so a shorter source cannot match.
        guard range.count >= name.count else { return false }
        var matched = 0
        let complete = forEachUnescapedChunk(range, in: input) { chunk in
            guard chunk.count <= name.count - matched else { return false }
            for offset in 0..<chunk.count where chunk[offset] != name[matched + offset] {
                return false
            }
            matched += chunk.count
            return true
        }
        return complete && matched == name.count
    }

    /// Number of bytes of the unescaped string content at `range`.
    static func unescapedLength(_ range: Range<Int>, in input: UnsafeRawBufferPointer) -> Int {
        var length = 0
        forEachUnescapedChunk(range, in: input) { chunk in
            length += chunk.count
            return true
        }
        return length
    }

    /// Appends the unescaped string content at `range` to `out` (never longer than the source text).
    static func appendUnescaped(_ range: Range<Int>, in input: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.appendWithin(maxCount: range.count) { writer in
            forEachUnescapedChunk(range, in: input) { chunk in
                writer.put(chunk)
                return true
            }
        }
    }

    /// Decodes the (validated) escape at `index` (its backslash) into `bytes`; returns the decoded length and the
    /// source bytes consumed.
    private static func decodeEscape(
        at index: Int,
        in input: UnsafeRawBufferPointer,
        into bytes: UnsafeMutableRawBufferPointer
    ) -> (length: Int, consumed: Int) {
        let simple: UInt8
        switch input[index + 1] {
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            let unit = UInt32(hexQuad(at: index + 2, in: input) ?? 0)
            var scalar = unit
            var consumed = 6
            if (0xD800...0xDBFF).contains(unit) {
                let low = UInt32(hexQuad(at: index + 8, in: input) ?? 0xDC00)
                scalar = ((unit - 0xD800) << 10 | (low - 0xDC00)) + 0x1_0000
                consumed = 12
            }
            return (writeUTF8(scalar, into: bytes), consumed)
        default:
            // `"`, `\` and `/` stand for themselves.
            simple = input[index + 1]
        }
        bytes[0] = simple
        return (1, 2)
    }

    private static func writeUTF8(_ scalar: UInt32, into bytes: UnsafeMutableRawBufferPointer) -> Int {
        if scalar < 0x80 {
            bytes[0] = UInt8(truncatingIfNeeded: scalar)
            return 1
        } else if scalar < 0x800 {
            bytes[0] = UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6)
            bytes[1] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
            return 2
        } else if scalar < 0x1_0000 {
            bytes[0] = UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12)
            bytes[1] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F)
            bytes[2] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
            return 3
        } else {
            bytes[0] = UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18)
            bytes[1] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F)
            bytes[2] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F)
            bytes[3] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
            return 4
        }
    }

    /// The value of the four hex digits at `index`, or nil when they are not four hex digits.
    static func hexQuad(at index: Int, in input: UnsafeRawBufferPointer) -> UInt16? {
        guard index >= 0, input.count - index >= 4 else { return nil }
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = input[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}

// MARK: - Validation

/// Skipping a value with serde_json's validation rules, on the canonicalizer's ``Parser``: whitespace, literals,
/// numbers and escapes are its own token rules; values are checked, not written.
extension Parser {
    /// Skips one value starting at the cursor (no whitespace before it) and returns its kind.
    fileprivate mutating func scanValue(remainingDepth: Int) throws(JSONSyntaxError) -> JSONValueKind {
        guard let byte = peek() else { throw .invalid }
        switch byte {
        case UInt8(ascii: "\""):
            advance()
            try scanString()
            return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            return .number
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .boolean
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .boolean
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "["):
            let remaining = remainingDepth - 1
            guard remaining > 0 else { throw .invalid }
            advance()
            try scanArray(remainingDepth: remaining)
            return .array
        case UInt8(ascii: "{"):
            let remaining = remainingDepth - 1
            guard remaining > 0 else { throw .invalid }
            advance()
            try scanObject(remainingDepth: remaining)
            return .object
        default:
            throw .invalid
        }
    }

    private mutating func scanArray(remainingDepth: Int) throws(JSONSyntaxError) {
        try skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            advance()
            return
        }
        while true {
            _ = try scanValue(remainingDepth: remainingDepth)
            try skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): try skipWhitespace()
            case UInt8(ascii: "]"): return
            default: throw .invalid
            }
        }
    }

    private mutating func scanObject(remainingDepth: Int) throws(JSONSyntaxError) {
        try skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            advance()
            return
        }
        while true {
            guard next() == UInt8(ascii: "\"") else { throw .invalid }
            try scanString()
            try skipWhitespace()
            guard next() == UInt8(ascii: ":") else { throw .invalid }
            try skipWhitespace()
            _ = try scanValue(remainingDepth: remainingDepth)
            try skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): try skipWhitespace()
            case UInt8(ascii: "}"): return
            default: throw .invalid
            }
        }
    }

    /// Skips the rest of a string; the opening quote is already consumed, the closing one is consumed too. The
    /// raw-byte rules are those of ``parseString(into:)``; escapes go through ``parseEscape(into:)``.
    fileprivate mutating func scanString() throws(JSONSyntaxError) {
        while true {
            guard let byte = peek() else { throw .invalid }
            if byte == UInt8(ascii: "\"") {
                advance()
                return
            }
            if byte == UInt8(ascii: "\\") {
                advance()
                try scanEscape()
            } else if byte < 0x20 {
                // serde_json: "control character (\u0000-\u001F) found while parsing a string".
                throw .invalid
            } else if byte < 0x80 {
                advance()
            } else {
                let sequence = UTF8Sequence.classify(input, at: position)
                guard sequence.isValid else { throw .invalid }
                advance(by: sequence.length)
            }
        }
    }

    /// Skips one escape (already past its backslash), validated by ``parseEscape(into:)`` (a lone or reversed
    /// surrogate is an error); its canonical form, at most 6 bytes, is discarded.
    private mutating func scanEscape() throws(JSONSyntaxError) {
        guard
            validatesDiscardingOutput({ (parser: inout Parser, writer: inout ByteWriter) throws(JSONSyntaxError) in
                try parser.parseEscape(into: &writer)
            })
        else { throw .invalid }
    }

    /// Skips a number, validated by ``parseNumber(into:)`` (grammar and serde_json's range rules); its canonical
    /// text is discarded.
    private mutating func scanNumber() throws(JSONSyntaxError) {
        guard
            validatesDiscardingOutput({ (parser: inout Parser, writer: inout ByteWriter) throws(JSONSyntaxError) in
                try parser.parseNumber(into: &writer)
            })
        else { throw .invalid }
    }

    /// Runs one of the canonicalizer's parse steps with its output going to a 32-byte stack buffer that is thrown
    /// away (the canonical text of an escape is at most 6 bytes, of a number at most JSONFloat.maxLength = 24: integers
    /// copied verbatim fit 64 bits, everything else is written as a float). Returns whether the input was valid.
    /// The error travels as a Bool: a typed-throws closure through `withUnsafeMutableBytes` crashes the 6.3 compiler.
    private mutating func validatesDiscardingOutput(
        _ step: (inout Parser, inout ByteWriter) throws(JSONSyntaxError) -> Void
    ) -> Bool {
        var scratch: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { raw -> Bool in
            var writer = ByteWriter(
                base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self),
                position: 0,
                limit: raw.count
            )
            do throws(JSONSyntaxError) {
                try step(&self, &writer)
                return true
            } catch {
                return false
            }
        }
    }
}
