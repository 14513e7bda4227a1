/// serde_json-compatible handling of an MQTT payload.
///
/// rivven-connect runs `serde_json::from_slice::<Value>` on the payload (serde_json 1.0.149 with `preserve_order`,
/// default float parsing) and, when that fails or parsing is off, `String::from_utf8_lossy`. These functions produce
/// the same bytes serde_json would write for the resulting value.
public enum JSONPayload {
    /// If `bytes` is one JSON value per serde_json::from_slice (leading/trailing JSON whitespace allowed), appends its
    /// compact re-serialisation exactly as serde_json (preserve_order) prints it and returns true; otherwise appends
    /// nothing and returns false.
    ///
    /// This entry point starts with empty scratch storage, so payloads containing objects allocate a little
    /// bookkeeping per call; ``EnvelopeEncoder`` keeps warm scratch storage instead.
    public static func appendCanonical(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        var canonicalizer = JSONCanonicalizer()
        return canonicalizer.append(bytes, to: &out)
    }

    /// Appends `bytes` as a JSON string literal, decoding as UTF-8 with invalid sequences replaced by U+FFFD
    /// (Rust String::from_utf8_lossy rules: maximal-subpart replacement), escaping like serde_json.
    public static func appendLossyString(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.appendWithin(maxCount: lossyStringBound(bytes.count)) { writer in
            writeLossyString(bytes, to: &writer)
        }
    }

    /// True when the bytes are valid UTF-8.
    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if bytes[index] < 0x80 {
                index += 1
                continue
            }
            let sequence = UTF8Sequence.classify(bytes, at: index)
            if !sequence.isValid {
                return false
            }
            index += sequence.length
        }
        return true
    }

    // MARK: - Internal helpers shared with the encoder and the canonicalizer

    /// Upper bound of ``appendLossyString(_:to:)``'s output: a control byte becomes six (`\u00XX`), an invalid byte
    /// three (U+FFFD), plus the quotes.
    static func lossyStringBound(_ count: Int) -> Int {
        6 * count + 2
    }

    /// Writes the JSON string literal (quotes included) of the lossy UTF-8 decoding of `bytes`.
    /// - Returns: true when `bytes` was valid UTF-8.
    @discardableResult
    static func writeLossyString(_ bytes: UnsafeRawBufferPointer, to writer: inout ByteWriter) -> Bool {
        writer.put(UInt8(ascii: "\""))
        let valid = writeLossyStringContents(bytes, mapStreamCharacters: false, to: &writer)
        writer.put(UInt8(ascii: "\""))
        return valid
    }

    /// Writes the contents (no quotes) of the JSON string for the lossy UTF-8 decoding of `bytes`: at most
    /// 6 bytes per input byte, or ``StreamName/maxExpansion`` with `mapStreamCharacters`.
    ///
    /// With `mapStreamCharacters`, `/`, `+` and `#` are rewritten as in ``StreamName/normalize(_:)``; those are
    /// ASCII and never part of an invalid subpart, so mapping before or after the lossy decoding is the same.
    /// - Returns: true when `bytes` was valid UTF-8 (nothing was replaced).
    static func writeLossyStringContents(
        _ bytes: UnsafeRawBufferPointer,
        mapStreamCharacters: Bool,
        to writer: inout ByteWriter
    ) -> Bool {
        var valid = true
        var index = 0
        var runStart = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte < 0x80 {
                if JSONEscaping.needsEscape(byte) {
                    writer.put(bytes, from: runStart, to: index)
                    JSONEscaping.writeEscape(for: byte, to: &writer)
                    index += 1
                    runStart = index
                } else if mapStreamCharacters && StreamName.isMapped(byte) {
                    writer.put(bytes, from: runStart, to: index)
                    StreamName.writeMapped(byte, to: &writer)
                    index += 1
                    runStart = index
                } else {
                    index += 1
                }
                continue
            }
            let sequence = UTF8Sequence.classify(bytes, at: index)
            if sequence.isValid {
                index += sequence.length
            } else {
                valid = false
                writer.put(bytes, from: runStart, to: index)
                JSONEscaping.writeReplacementCharacter(to: &writer)
                index += sequence.length
                runStart = index
            }
        }
        writer.put(bytes, from: runStart, to: count)
        return valid
    }

    /// A Swift string as a JSON string literal (quotes included), escaped like serde_json. Not for the hot path.
    static func stringLiteral(_ string: String) -> [UInt8] {
        var out: [UInt8] = []
        var string = string
        string.withUTF8 { utf8 in
            appendLossyString(UnsafeRawBufferPointer(utf8), to: &out)
        }
        return out
    }
}

/// serde_json's string escaping (`format_escaped_str`): only `"`, `\` and C0 controls are escaped.
enum JSONEscaping {
    /// True for the bytes serde_json escapes: `"`, `\` and 0x00...0x1F (not 0x7F, not `/`).
    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Writes the escape sequence serde_json writes for `byte` (one of the ``needsEscape(_:)`` bytes).
    static func writeEscape(for byte: UInt8, to writer: inout ByteWriter) {
        writer.put(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""): writer.put(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): writer.put(UInt8(ascii: "\\"))
        case 0x08: writer.put(UInt8(ascii: "b"))
        case 0x09: writer.put(UInt8(ascii: "t"))
        case 0x0A: writer.put(UInt8(ascii: "n"))
        case 0x0C: writer.put(UInt8(ascii: "f"))
        case 0x0D: writer.put(UInt8(ascii: "r"))
        default:
            writer.put(UInt8(ascii: "u"))
            writer.put(UInt8(ascii: "0"))
            writer.put(UInt8(ascii: "0"))
            writer.put(lowerHexDigit(byte >> 4))
            writer.put(lowerHexDigit(byte & 0xF))
        }
    }

    /// U+FFFD REPLACEMENT CHARACTER as UTF-8.
    @inline(__always)
    static func writeReplacementCharacter(to writer: inout ByteWriter) {
        writer.put(0xEF)
        writer.put(0xBF)
        writer.put(0xBD)
    }

    @inline(__always)
    private static func lowerHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }
}

/// Classification of the UTF-8 sequence starting at a non-ASCII byte, following Rust's `Utf8Chunks` (the rule
/// behind `String::from_utf8_lossy`): an invalid sequence's length is its maximal subpart, at least one byte.
struct UTF8Sequence {
    /// Whether the bytes form one valid scalar value.
    var isValid: Bool
    /// Bytes of the valid sequence, or of the maximal invalid subpart to replace with one U+FFFD.
    var length: Int

    /// Classifies the sequence at `index`; `bytes[index]` must be >= 0x80.
    @inline(__always)
    static func classify(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UTF8Sequence {
        let first = bytes[index]
        let count = bytes.count
        // Bytes past the end read as 0, which fails every continuation check (Rust's `safe_get`).
        @inline(__always) func byte(_ offset: Int) -> UInt8 {
            index + offset < count ? bytes[index + offset] : 0
        }
        @inline(__always) func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }

        switch first {
        case 0xC2...0xDF:
            return isContinuation(byte(1)) ? UTF8Sequence(isValid: true, length: 2) : invalid(1)
        case 0xE0...0xEF:
            let second = byte(1)
            let secondOK: Bool
            switch first {
            case 0xE0: secondOK = (0xA0...0xBF).contains(second)
            case 0xED: secondOK = (0x80...0x9F).contains(second)
            default: secondOK = isContinuation(second)
            }
            guard secondOK else { return invalid(1) }
            return isContinuation(byte(2)) ? UTF8Sequence(isValid: true, length: 3) : invalid(2)
        case 0xF0...0xF4:
            let second = byte(1)
            let secondOK: Bool
            switch first {
            case 0xF0: secondOK = (0x90...0xBF).contains(second)
            case 0xF4: secondOK = (0x80...0x8F).contains(second)
            default: secondOK = isContinuation(second)
            }
            guard secondOK else { return invalid(1) }
            guard isContinuation(byte(2)) else { return invalid(2) }
            return isContinuation(byte(3)) ? UTF8Sequence(isValid: true, length: 4) : invalid(3)
        default:
            // 0x80...0xC1 (continuation or overlong lead) and 0xF5...0xFF never start a sequence.
            return invalid(1)
        }
    }

    @inline(__always)
    private static func invalid(_ length: Int) -> UTF8Sequence {
        UTF8Sequence(isValid: false, length: length)
    }
}

extension JSONPayload {
    /// `,"NAME":"text"` when `bytes` are valid UTF-8, else `,"NAME_b64":"base64"` (SPEC §6's rule for `log cat`
    /// values and keys).
    public static func appendTextOrBase64Field(name: String, _ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        out.append(contentsOf: name.utf8)
        if isValidUTF8(bytes) {
            out.append(contentsOf: #"":"#.utf8)
            appendLossyString(bytes, to: &out)
        } else {
            out.append(contentsOf: #"_b64":""#.utf8)
            Base64.append(bytes, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }
}
