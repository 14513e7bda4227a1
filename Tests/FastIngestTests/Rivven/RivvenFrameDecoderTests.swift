import FastIngest
import Testing

/// Drains every frame the decoder has; an error ends the drain and is returned with the frames before it.
private func drain(_ decoder: inout RivvenFrameDecoder) -> (frames: [RivvenFrame], error: RivvenCodecError?) {
    var frames: [RivvenFrame] = []
    while true {
        do {
            guard let frame = try decoder.next() else { return (frames, nil) }
            frames.append(frame)
        } catch {
            return (frames, error)
        }
    }
}

@Suite("Rivven frame decoder")
struct RivvenFrameDecoderTests {
    /// Every fixture frame, one after the other, as a connection would carry them.
    static func stream() throws -> (bytes: [UInt8], frames: [RivvenFrame]) {
        let fixtures = try RivvenFixture.all()
        try #require(!fixtures.isEmpty)
        var bytes: [UInt8] = []
        var frames: [RivvenFrame] = []
        for fixture in fixtures {
            bytes += fixture.frame
            frames.append(try RivvenFrame.parse(fixture.frame))
        }
        return (bytes, frames)
    }

    @Test("all fixtures in random chunks come out as the same frames")
    func randomChunks() throws {
        let (bytes, expected) = try Self.stream()
        var generator = SplitMix64(seed: 42)
        for round in 0..<200 {
            var decoder = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
            var frames: [RivvenFrame] = []
            var index = 0
            while index < bytes.count {
                let size = round == 0 ? 1 : Int.random(in: 1...(round % 2 == 0 ? 7 : 300), using: &generator)
                let end = min(bytes.count, index + size)
                if round % 3 == 0 {
                    bytes[index..<end].withUnsafeBytes { decoder.append($0) }
                } else {
                    decoder.append(bytes[index..<end])
                }
                index = end
                let (more, error) = drain(&decoder)
                #expect(error == nil)
                frames += more
            }
            #expect(decoder.bufferedByteCount == 0)
            #expect(frames.count == expected.count)
            for (frame, wanted) in zip(frames, expected) {
                #expect(frame.format == wanted.format)
                #expect(frame.correlationID == wanted.correlationID)
                #expect(Array(frame.payload) == Array(wanted.payload))
            }
        }
    }

    @Test("decoded frames hold their payloads while the decoder moves on (and compacts past 64 KiB)")
    func payloadsSurviveCompaction() throws {
        var stream: [UInt8] = []
        var frameBytes: [[UInt8]] = []
        for round in 0..<40 {
            var bytes: [UInt8] = []
            let value = [UInt8](repeating: UInt8(round), count: 5_000 + round)
            RivvenRequest.publish(topic: "t", partition: nil, key: nil, value: value, leaderEpoch: nil)
                .encode(correlationID: UInt32(round), into: &bytes)
            frameBytes.append(bytes)
            stream += bytes
        }
        // Chunks that never line up with frames: a partial frame is always buffered behind consumed ones, so the
        // decoder compacts by moving the partial frame down while earlier payload slices are still held.
        var decoder = RivvenFrameDecoder(maxFrameLength: 1 << 20)
        var kept: [RivvenFrame] = []
        var index = 0
        while index < stream.count {
            let end = min(stream.count, index + 7_001)
            decoder.append(stream[index..<end])
            index = end
            let (frames, error) = drain(&decoder)
            #expect(error == nil)
            kept += frames
        }
        #expect(kept.count == frameBytes.count)
        for (round, (frame, bytes)) in zip(kept, frameBytes).enumerated() {
            #expect(frame.correlationID == UInt32(round))
            #expect(Array(frame.payload) == Array(bytes[9...]))
            #expect(try RivvenRequest.decode(frame).variantName == "Publish")
        }
        decoder.append([0x7F, 0, 0, 0])
        #expect(throws: RivvenCodecError(.frameTooLarge, at: stream.count, value: 0x7F00_0000)) { try decoder.next() }
    }

    @Test("an oversized length prefix fails at once, before its body, and for good")
    func oversized() throws {
        var decoder = RivvenFrameDecoder(maxFrameLength: 64)
        var ping: [UInt8] = []
        RivvenRequest.ping.encode(correlationID: 1, into: &ping)
        decoder.append(ping)
        // L = 65: only the 4 length bytes are needed to refuse it.
        decoder.append([0, 0, 0, 65])
        let (frames, error) = drain(&decoder)
        #expect(frames.count == 1)
        #expect(error == RivvenCodecError(.frameTooLarge, at: ping.count, value: 65))
        #expect(decoder.isFailed)
        #expect(decoder.bufferedByteCount == 0)
        decoder.append(ping)
        #expect(decoder.bufferedByteCount == 0)
        #expect(throws: RivvenCodecError(.frameTooLarge, at: ping.count, value: 65)) { try decoder.next() }

        // Appending more without calling next() does not buffer the announced body either.
        var eager = RivvenFrameDecoder(maxFrameLength: 64)
        eager.append([0, 0, 1, 0])
        #expect(eager.isFailed)
        for _ in 0..<10 { eager.append([UInt8](repeating: 0, count: 100)) }
        #expect(eager.bufferedByteCount == 0)
        #expect(throws: RivvenCodecError(.frameTooLarge, at: 0, value: 256)) { try eager.next() }

        // L = max is fine, and waits for its body.
        var exact = RivvenFrameDecoder(maxFrameLength: 64)
        let body = [UInt8](repeating: 0x0D, count: 59)
        exact.append([0, 0, 0, 64, 0, 0, 0, 0, 9])
        #expect(try exact.next() == nil)
        exact.append(body)
        let frame = try #require(try exact.next())
        #expect(frame.payload.count == 59)

        // The broker's limit: 10 MiB; u32 max.
        var broker = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxRequestFrameLength)
        broker.append([0x00, 0xA0, 0x00, 0x01])
        #expect(throws: RivvenCodecError(.frameTooLarge, at: 0, value: 10_485_761)) { try broker.next() }
        var client = RivvenFrameDecoder(maxFrameLength: RivvenLimits.maxResponseFrameLength)
        client.append([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: RivvenCodecError(.frameTooLarge, at: 0, value: 0xFFFF_FFFF)) { try client.next() }
    }

    @Test("a length prefix below 5 costs only that frame")
    func tooShort() throws {
        var decoder = RivvenFrameDecoder(maxFrameLength: 1024)
        var ping: [UInt8] = []
        RivvenRequest.ping.encode(correlationID: 3, into: &ping)
        decoder.append([0, 0, 0, 2, 0xAA, 0xBB] + ping + [0, 0, 0, 0] + ping)
        #expect(throws: RivvenCodecError(.frameTooShort, at: 0, value: 2)) { try decoder.next() }
        #expect(try decoder.next()?.correlationID == 3)
        #expect(throws: RivvenCodecError(.frameTooShort, at: 6 + ping.count, value: 0)) { try decoder.next() }
        let last = try #require(try decoder.next())
        #expect(try RivvenRequest.decode(last) == .ping)
        #expect(!decoder.isFailed)
        #expect(try decoder.next() == nil)
    }

    @Test("positions are stream offsets, across compactions")
    func streamPositions() throws {
        var decoder = RivvenFrameDecoder(maxFrameLength: 100_000)
        var offset = 0
        for round in 0..<30 {
            var bytes: [UInt8] = []
            RivvenRequest.publish(
                topic: "t",
                partition: nil,
                key: nil,
                value: Array(repeating: 1, count: 9_000),
                leaderEpoch: nil
            )
            .encode(correlationID: UInt32(round), into: &bytes)
            decoder.append(bytes)
            offset += bytes.count
            #expect(drain(&decoder).frames.count == 1)
        }
        decoder.append([0x7F, 0, 0, 0])
        #expect(throws: RivvenCodecError(.frameTooLarge, at: offset, value: 0x7F00_0000)) { try decoder.next() }
    }
}
