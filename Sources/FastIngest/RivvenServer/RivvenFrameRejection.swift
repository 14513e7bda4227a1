/// What the test server does with a frame it cannot turn into a request, and the text rivvend 0.0.22 answers
/// (WIRE.md §2, §10; rivvend's `framing.rs` and `Request::from_wire`/`validate`).
///
/// rivvend answers `Error{"INVALID_REQUEST: <ProtocolError>"}` with correlation id 0 and keeps the connection, except
/// for an oversized `L` (`MESSAGE_TOO_LARGE`, then close) and a protobuf format byte (it cannot encode the reply in
/// protobuf and drops the connection). The codec is stricter than postcard (trailing bytes, non-shortest varints);
/// those rejections say so in their text, since rivvend would have accepted the frame.
enum RivvenFrameRejection: Equatable {
    /// Close the connection without a reply.
    case close
    /// Answer `Error{message}` with `correlationID`, then keep the connection or close it.
    case reply(correlationID: UInt32, message: String, thenClose: Bool)

    /// For an error of ``RivvenFrameDecoder/next()`` (the frame itself is unusable).
    static func forStream(_ error: RivvenCodecError) -> RivvenFrameRejection {
        if error.code == .frameTooLarge {
            return .reply(
                correlationID: 0,
                message: "MESSAGE_TOO_LARGE: \(error.value) bytes exceeds limit",
                thenClose: true
            )
        }
        // frameTooShort: L < 5, no room for the format byte and the correlation id.
        return .reply(
            correlationID: 0,
            message: "INVALID_REQUEST: Serialization error: Wire data too short (need format byte + correlation_id)",
            thenClose: false
        )
    }

    /// For an error of ``RivvenRequest/decode(_:)`` on a whole frame.
    static func forPayload(_ error: RivvenCodecError, frame: RivvenFrame) -> RivvenFrameRejection {
        func invalid(_ text: String) -> RivvenFrameRejection {
            .reply(correlationID: 0, message: "INVALID_REQUEST: \(text)", thenClose: false)
        }
        func serialization(_ text: String) -> RivvenFrameRejection { invalid("Serialization error: \(text)") }
        switch error.code {
        case .badFormat:
            if error.value == 1 { return .close }
            let digits = Array("0123456789abcdef".utf8)
            let byte = Int(error.value & 0xFF)
            let hex = String(decoding: [digits[byte >> 4], digits[byte & 15]], as: UTF8.self)
            return serialization("Unknown wire format: 0x\(hex)")
        case .truncated:
            return serialization("Hit the end of buffer, expected more data")
        case .varintOverflow:
            return serialization("Found a varint that didn't terminate. Is the usize too big for this platform?")
        case .overlongVarint:
            // The codec reports two things as overlong: a varint longer than its type allows (postcard's error too)
            // and a padded one with a zero last group (which postcard accepts).
            return isPaddedVarint(at: error.position, in: frame)
                ? serialization("varint not in its shortest form (strict test server)")
                : serialization("Found a varint that didn't terminate. Is the usize too big for this platform?")
        case .invalidBool:
            return serialization("Found a bool that wasn't 0 or 1")
        case .invalidOption:
            return serialization("Found an Option discriminant that wasn't 0 or 1")
        case .invalidUTF8:
            return serialization("Tried to parse invalid utf-8")
        case .unknownVariant:
            return serialization("Serde Deserialization Error")
        case .trailingBytes:
            return serialization("\(error.value) bytes after the request (strict test server)")
        case .limitExceeded:
            return invalid("Invalid message format: \(limitText(error, frame: frame))")
        case .unsupportedVariant:
            let index = Int(error.value)
            let name = index < RivvenRequest.variantNames.count ? RivvenRequest.variantNames[index] : "variant \(index)"
            return .reply(
                correlationID: frame.correlationID,
                message: "UNSUPPORTED: the Rivven test server does not implement \(name)",
                thenClose: false
            )
        default:
            return serialization("\(error)")
        }
    }

    /// Whether the varint starting at frame byte `position` ends (within 10 bytes) with a zero group after its first
    /// byte.
    private static func isPaddedVarint(at position: Int, in frame: RivvenFrame) -> Bool {
        let payload = Array(frame.payload)
        var index = position - RivvenFrame.headerLength
        let start = index
        while index >= 0 && index < payload.count && index - start < 10 {
            if payload[index] & 0x80 == 0 { return index > start && payload[index] == 0 }
            index += 1
        }
        return false
    }

    /// rivvend's `Request::validate` text for a bound the codec found exceeded. The codec reports where the length
    /// or count began; the first field starts right after the one-byte variant index (frame byte 10).
    private static func limitText(_ error: RivvenCodecError, frame: RivvenFrame) -> String {
        let variant = frame.payload.first.map { Int($0) } ?? -1
        let isFirstField = error.position == RivvenFrame.headerLength + 1
        let length = error.value
        func name(_ field: String) -> String {
            "\(field) exceeds max length (\(length) > \(RivvenLimits.maxNameLength))"
        }
        switch variant {
        case 0:
            return isFirstField ? name("username") : "password exceeds max auth payload"
        case 1:
            return isFirstField ? "SASL mechanism name too long" : "SASL auth bytes exceed max auth payload"
        case 2, 3:
            return "SCRAM message exceeds max auth payload"
        case 9, 10:
            return name(isFirstField ? "consumer_group" : "topic")
        case 33:
            return name("client_id")
        case 38, 39:
            return isFirstField
                ? name("topic") : "records list exceeds max length (\(length) > \(RivvenLimits.maxListLength))"
        default:
            return name("topic")
        }
    }
}
