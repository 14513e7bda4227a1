/// Cuts a byte stream into Rivven frames, whatever the chunks it arrives in (WIRE.md §2).
///
/// Feed it what the socket delivered with `append` and drain it with ``next()`` until that returns nil. A length
/// prefix above ``maxFrameLength`` is refused as soon as its 4 bytes are there: none of the frame's body is waited
/// for or kept. The stream cannot be resynchronised after that, so the decoder stays failed: ``next()`` throws
/// ``RivvenCodecError/Code/frameTooLarge`` (after returning the complete frames before it) and `append` drops its
/// input. A length prefix below 5 (``RivvenCodecError/Code/frameTooShort``) consumes only that frame, as the broker
/// does.
///
/// Positions in errors are offsets in the whole stream (the first byte ever appended is 0).
public struct RivvenFrameDecoder: Sendable {
    /// The largest `L` accepted: ``RivvenLimits/maxResponseFrameLength`` when reading a broker's replies,
    /// ``RivvenLimits/maxRequestFrameLength`` when reading a client's requests (a test server).
    public let maxFrameLength: Int

    /// Received bytes; those before `readIndex` have been consumed.
    private var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not yet consumed.
    private var readIndex = 0
    /// Stream offset of `buffer[0]`.
    private var bufferStreamOffset = 0
    /// Set once the stream is out of sync.
    private var failure: RivvenCodecError?

    /// Creates a decoder that accepts frames with `L ≤ maxFrameLength`.
    public init(maxFrameLength: Int) {
        precondition(maxFrameLength >= RivvenFrame.minimumLength, "RivvenFrameDecoder: maxFrameLength below 5")
        self.maxFrameLength = maxFrameLength
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Whether the stream is out of sync (a too large frame was announced); nothing more can be decoded.
    public var isFailed: Bool { failure != nil }

    /// Adds received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
        refuseOversizedPendingFrame()
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        guard failure == nil else { return }
        compact()
        buffer.append(contentsOf: bytes)
        refuseOversizedPendingFrame()
    }

    /// Returns the next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(RivvenCodecError) -> RivvenFrame? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available >= 4 else { return nil }
        refuseOversizedPendingFrame()
        if let failure { throw failure }
        let frameStart = readIndex
        let streamPosition = bufferStreamOffset + frameStart
        let length = Int(RivvenFrame.loadBigEndian(buffer, at: frameStart))
        guard available >= 4 + length else { return nil }
        readIndex = frameStart + 4 + length
        if length < RivvenFrame.minimumLength {
            throw RivvenCodecError(.frameTooShort, at: streamPosition, value: UInt64(length))
        }
        return RivvenFrame(
            format: buffer[frameStart + 4],
            correlationID: RivvenFrame.loadBigEndian(buffer, at: frameStart + 5),
            payload: buffer[(frameStart + RivvenFrame.headerLength)..<readIndex]
        )
    }

    /// Fails the decoder, dropping what is buffered, when the next frame's length prefix is complete and too large:
    /// its body is never waited for, even if the caller appends more before calling ``next()``.
    private mutating func refuseOversizedPendingFrame() {
        guard failure == nil, buffer.count - readIndex >= 4 else { return }
        let length = RivvenFrame.loadBigEndian(buffer, at: readIndex)
        guard Int(length) > maxFrameLength else { return }
        failure = RivvenCodecError(.frameTooLarge, at: bufferStreamOffset + readIndex, value: UInt64(length))
        buffer = []
        readIndex = 0
    }

    /// Drops consumed bytes when that is cheap: all of them, or at least 64 KiB that are at least half the buffer.
    /// (A payload slice still held by the caller keeps the old storage alive; the buffer then gets a copy.)
    private mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            bufferStreamOffset += readIndex
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= 65_536 && readIndex * 2 >= buffer.count {
            bufferStreamOffset += readIndex
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
