/// One frame of the Rivven native protocol (WIRE.md §2):
///
/// ```
/// [u32 BE L][u8 format][u32 BE correlation id][payload: L − 5 bytes]
/// ```
///
/// `L` counts the format byte, the correlation id and the payload, not itself. A decoded frame (from
/// ``RivvenFrameDecoder`` or ``parse(_:maxFrameLength:)``) carries its payload as a slice of the decoder's buffer;
/// encoding goes through ``begin(correlationID:into:)`` and ``finish(_:into:)``, which write the header in place and
/// patch `L` once the payload is there, so no payload is ever copied into an intermediate buffer.
public struct RivvenFrame: Sendable, Hashable {
    /// The format byte: ``postcardFormat`` for every frame this codec produces or decodes into messages.
    public var format: UInt8
    /// The correlation id: a response carries the id of the request it answers (0 for a frame the broker could not
    /// parse).
    public var correlationID: UInt32
    /// The payload: one postcard-encoded request or response. Its indices are those of the buffer it was cut from.
    public var payload: ArraySlice<UInt8>

    /// Creates a frame.
    public init(format: UInt8 = RivvenFrame.postcardFormat, correlationID: UInt32, payload: ArraySlice<UInt8>) {
        self.format = format
        self.correlationID = correlationID
        self.payload = payload
    }

    /// The format byte of postcard payloads (`0x00`); `0x01` would be protobuf, which this codec does not speak.
    public static let postcardFormat: UInt8 = 0

    /// Bytes before the payload: the length prefix, the format byte and the correlation id.
    public static let headerLength = 9

    /// The smallest legal `L`: format byte and correlation id with an empty payload. (A real message needs at least
    /// one more byte, the variant index.)
    public static let minimumLength = 5

    // MARK: Encoding

    /// Appends a frame header with `L` left as 0 and returns where it starts; append the payload, then call
    /// ``finish(_:into:)``.
    public static func begin(correlationID: UInt32, into out: inout [UInt8]) -> RivvenFrameMark {
        let start = out.count
        appendBigEndian(0, to: &out)  // L, patched by finish
        out.append(postcardFormat)
        appendBigEndian(correlationID, to: &out)
        return RivvenFrameMark(start: start)
    }

    /// Writes `L` into the header begun at `mark`: everything appended after the header is the payload.
    ///
    /// - Returns: `L`, to compare with ``RivvenLimits/maxRequestFrameLength``.
    @discardableResult
    public static func finish(_ mark: RivvenFrameMark, into out: inout [UInt8]) -> Int {
        let length = out.count - mark.start - 4
        precondition(length >= minimumLength, "RivvenFrame.finish: no frame begun at this mark")
        precondition(length <= Int(UInt32.max), "RivvenFrame.finish: frame longer than 4 GiB")
        storeBigEndian(UInt32(length), at: mark.start, in: &out)
        return length
    }

    /// Appends a whole frame whose payload is written by `payload`.
    ///
    /// - Returns: `L`.
    @discardableResult
    public static func encode(
        correlationID: UInt32,
        into out: inout [UInt8],
        payload: (inout [UInt8]) -> Void
    ) -> Int {
        let mark = begin(correlationID: correlationID, into: &out)
        payload(&out)
        return finish(mark, into: &out)
    }

    // MARK: Decoding one frame

    /// Parses `bytes` as exactly one whole frame (length prefix included).
    ///
    /// Errors: fewer bytes than the header or `L` says → ``RivvenCodecError/Code/truncated``; more →
    /// ``RivvenCodecError/Code/trailingBytes``; `L` < 5 → ``RivvenCodecError/Code/frameTooShort``; `L` above
    /// `maxFrameLength` → ``RivvenCodecError/Code/frameTooLarge``. The format byte is not checked here (the message
    /// decoders do).
    public static func parse(_ bytes: [UInt8], maxFrameLength: Int = RivvenLimits.maxResponseFrameLength)
        throws(RivvenCodecError) -> RivvenFrame
    {
        guard bytes.count >= 4 else { throw RivvenCodecError(.truncated, at: bytes.count) }
        let length = Int(loadBigEndian(bytes, at: 0))
        if length > maxFrameLength { throw RivvenCodecError(.frameTooLarge, at: 0, value: UInt64(length)) }
        if length < minimumLength { throw RivvenCodecError(.frameTooShort, at: 0, value: UInt64(length)) }
        if bytes.count < 4 + length { throw RivvenCodecError(.truncated, at: bytes.count, value: UInt64(length)) }
        if bytes.count > 4 + length {
            throw RivvenCodecError(.trailingBytes, at: 4 + length, value: UInt64(bytes.count - 4 - length))
        }
        return RivvenFrame(
            format: bytes[4],
            correlationID: loadBigEndian(bytes, at: 5),
            payload: bytes[headerLength...]
        )
    }

    /// Throws ``RivvenCodecError/Code/badFormat`` (at byte 4, the format byte's place in a frame) unless the format
    /// byte is postcard.
    func checkFormat() throws(RivvenCodecError) {
        if format != RivvenFrame.postcardFormat {
            throw RivvenCodecError(.badFormat, at: 4, value: UInt64(format))
        }
    }

    // MARK: Big-endian helpers

    static func appendBigEndian(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 24))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value))
    }

    static func storeBigEndian(_ value: UInt32, at index: Int, in out: inout [UInt8]) {
        out[index] = UInt8(truncatingIfNeeded: value >> 24)
        out[index + 1] = UInt8(truncatingIfNeeded: value >> 16)
        out[index + 2] = UInt8(truncatingIfNeeded: value >> 8)
        out[index + 3] = UInt8(truncatingIfNeeded: value)
    }

    static func loadBigEndian(_ bytes: [UInt8], at index: Int) -> UInt32 {
        UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8
            | UInt32(bytes[index + 3])
    }
}

/// Where a frame being encoded starts in the caller's buffer, from ``RivvenFrame/begin(correlationID:into:)`` to
/// ``RivvenFrame/finish(_:into:)``.
public struct RivvenFrameMark: Sendable, Hashable {
    /// Index of the frame's length prefix in the buffer.
    public let start: Int

    /// Index of the frame's first payload byte.
    public var payloadStart: Int { start + RivvenFrame.headerLength }
}
