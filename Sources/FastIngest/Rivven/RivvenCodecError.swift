/// A frame or payload of the Rivven native protocol that cannot be decoded (WIRE.md §2, §3, §10).
///
/// Decoding never reads out of bounds and never traps on bad input: every problem becomes one of these, with the
/// byte position where it was found. Building one does not format text; ``description`` does, when asked.
public struct RivvenCodecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, opaque so new kinds can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case truncated, overlongVarint, varintOverflow, invalidBool, invalidOption, invalidUTF8
            case unknownVariant, unsupportedVariant, trailingBytes, frameTooLarge, frameTooShort, badFormat
            case limitExceeded
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The input ends before the value being read does (a length or count larger than what is left counts too;
        /// ``RivvenCodecError/value`` is then that length or count).
        public static let truncated = Code(.truncated)
        /// A varint that is not in its shortest form (a zero last group after the first byte), or longer than its
        /// type allows (3 bytes for u16, 5 for u32, 10 for u64).
        public static let overlongVarint = Code(.overlongVarint)
        /// A varint whose value does not fit its type (a u32 above 4294967295, …).
        public static let varintOverflow = Code(.varintOverflow)
        /// A `bool` byte other than `00` or `01`; ``RivvenCodecError/value`` is the byte.
        public static let invalidBool = Code(.invalidBool)
        /// An `Option` tag other than `00` or `01`; ``RivvenCodecError/value`` is the byte.
        public static let invalidOption = Code(.invalidOption)
        /// A `String` whose bytes are not valid UTF-8.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// A variant index that the protocol does not define; ``RivvenCodecError/value`` is the index.
        public static let unknownVariant = Code(.unknownVariant)
        /// A variant the protocol defines but this codec does not implement (consumer-group, transaction, quota and
        /// admin requests, …); ``RivvenCodecError/value`` is the index.
        public static let unsupportedVariant = Code(.unsupportedVariant)
        /// Bytes left after a complete payload (or after a complete frame where exactly one was expected);
        /// ``RivvenCodecError/value`` is how many.
        public static let trailingBytes = Code(.trailingBytes)
        /// A frame length prefix `L` above the limit; ``RivvenCodecError/value`` is `L`. The stream cannot be resynchronised.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// A frame length prefix `L` below 5 (no room for the format byte and the correlation id).
        public static let frameTooShort = Code(.frameTooShort)
        /// A format byte other than `0x00` (postcard); ``RivvenCodecError/value`` is the byte.
        public static let badFormat = Code(.badFormat)
        /// A name, list or authentication payload longer than the broker accepts (WIRE.md §10); ``RivvenCodecError/value``
        /// is the length or count.
        public static let limitExceeded = Code(.limitExceeded)

        /// The code's name, such as `truncated` or `unknownVariant`.
        public var description: String { kind.rawValue }
    }

    /// What is wrong.
    public var code: Code
    /// The byte position where the problem was found: in the bytes handed to the decoder (a whole frame, a payload,
    /// or the stream for ``RivvenFrameDecoder``).
    public var position: Int
    /// The offending value when there is one (the bad byte, the variant index, the length); 0 otherwise.
    public var value: UInt64

    /// Creates an error.
    public init(_ code: Code, at position: Int, value: UInt64 = 0) {
        self.code = code
        self.position = position
        self.value = value
    }

    /// One line, such as `unknownVariant at byte 0 (value 77)`.
    public var description: String {
        var text = "\(code) at byte \(position)"
        if value != 0 { text += " (value \(value))" }
        return text
    }
}
