import FastIngest
import Testing

/// What the fuzzers saw, so a test can tell that it exercised both outcomes.
private struct FuzzStats {
    var accepted = 0
    var refused = 0
    var codes: Set<String> = []

    mutating func refuse(_ error: RivvenCodecError) {
        refused += 1
        codes.insert(error.code.description)
    }
}

/// Decodes `frame` as a whole frame with both message decoders and as a bare payload; every outcome must be either
/// a ``RivvenCodecError`` at a position inside the input, or a message that re-encodes to exactly the input (the
/// decoder accepts only canonical encodings).
private func checkFrame(_ frame: [UInt8], _ stats: inout FuzzStats, _ comment: @autoclosure () -> String) {
    do {
        let (correlationID, request) = try RivvenRequest.decodeFrame(frame, maxFrameLength: Int(UInt32.max))
        stats.accepted += 1
        #expect(request.frame(correlationID: correlationID) == frame, "\(comment())")
    } catch {
        stats.refuse(error)
        #expect(error.position >= 0 && error.position <= frame.count, "\(comment()): \(error)")
    }
    do {
        let (correlationID, response) = try RivvenResponse.decodeFrame(frame, maxFrameLength: Int(UInt32.max))
        stats.accepted += 1
        #expect(response.frame(correlationID: correlationID) == frame, "\(comment())")
    } catch {
        stats.refuse(error)
        #expect(error.position >= 0 && error.position <= frame.count, "\(comment()): \(error)")
    }
    checkPayload(Array(frame.dropFirst(min(frame.count, RivvenFrame.headerLength))), &stats, comment())
}

/// The same for a bare payload, through the borrowed-memory API.
private func checkPayload(_ payload: [UInt8], _ stats: inout FuzzStats, _ comment: @autoclosure () -> String) {
    payload.withUnsafeBytes { raw in
        do throws(RivvenCodecError) {
            let request = try RivvenRequest.decode(payload: raw)
            stats.accepted += 1
            var out: [UInt8] = []
            request.encodePayload(into: &out)
            #expect(out == payload, "\(comment())")
        } catch {
            stats.refuse(error)
            #expect(error.position >= 0 && error.position <= payload.count, "\(comment()): \(error)")
        }
        do throws(RivvenCodecError) {
            let response = try RivvenResponse.decode(payload: raw)
            stats.accepted += 1
            var out: [UInt8] = []
            response.encodePayload(into: &out)
            #expect(out == payload, "\(comment())")
        } catch {
            stats.refuse(error)
            #expect(error.position >= 0 && error.position <= payload.count, "\(comment()): \(error)")
        }
    }
}

/// One to three random damages: bit flips, cuts, extensions, length-prefix tampering, special bytes, inserted,
/// deleted or repeated bytes, nudged bytes (inner lengths and counts). Half the time `L` is then made to fit again,
/// so the damage reaches the payload decoders instead of stopping at the frame check.
private func mutate(_ original: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
    var bytes = original
    for _ in 0..<Int.random(in: 1...3, using: &generator) {
        let index = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<9, using: &generator) {
        case 0 where !bytes.isEmpty:
            bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &generator)
        case 1:
            bytes.removeSubrange(Int.random(in: 0...bytes.count, using: &generator)...)
        case 2:
            bytes += (0..<Int.random(in: 1...16, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
        case 3 where bytes.count >= 4:
            let length: UInt32 =
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: UInt32.random(in: 0...UInt32.max, using: &generator)
                case 1: UInt32(truncatingIfNeeded: bytes.count - 4 + Int.random(in: -3...3, using: &generator))
                default: UInt32.random(in: 0...12, using: &generator)
                }
            bytes[0] = UInt8(truncatingIfNeeded: length >> 24)
            bytes[1] = UInt8(truncatingIfNeeded: length >> 16)
            bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
            bytes[3] = UInt8(truncatingIfNeeded: length)
        case 4 where !bytes.isEmpty:
            bytes[index] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF].randomElement(using: &generator)!
        case 5:
            bytes.insert(UInt8.random(in: 0...255, using: &generator), at: index)
        case 6 where !bytes.isEmpty:
            bytes.remove(at: index)
        case 7 where !bytes.isEmpty:
            let end = min(bytes.count, index + Int.random(in: 1...8, using: &generator))
            bytes.insert(contentsOf: bytes[index..<end], at: end)
        case 8 where !bytes.isEmpty:
            bytes[index] = bytes[index] &+ UInt8(bitPattern: Int8.random(in: -2...2, using: &generator))
        default:
            break
        }
    }
    if bytes.count >= 4 && Bool.random(using: &generator) {
        let length = UInt32(bytes.count - 4)
        bytes[0] = UInt8(truncatingIfNeeded: length >> 24)
        bytes[1] = UInt8(truncatingIfNeeded: length >> 16)
        bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: length)
    }
    return bytes
}

@Suite("Rivven fuzz")
struct RivvenFuzzTests {
    @Test("mutated fixtures: refused with a RivvenCodecError or accepted exactly as they are")
    func mutatedFixtures() throws {
        let fixtures = try RivvenFixture.all()
        try #require(fixtures.count == 101)
        var generator = SplitMix64(seed: 0xF022)
        var stats = FuzzStats()
        for fixture in fixtures {
            for round in 0..<200 {
                let mutated = mutate(fixture.frame, using: &generator)
                checkFrame(mutated, &stats, "\(fixture.name) #\(round): \(hex(mutated))")
            }
        }
        // 101 × 200 frames, each through five decoders.
        #expect(stats.accepted + stats.refused == 101 * 200 * 4)
        #expect(stats.accepted > 100)
        for code in [
            "truncated", "trailingBytes", "unknownVariant", "frameTooShort", "badFormat", "invalidOption",
            "invalidBool", "overlongVarint", "invalidUTF8", "unsupportedVariant",
        ] {
            #expect(stats.codes.contains(code), "the fuzzer never produced \(code)")
        }
    }

    @Test("random bytes, random frames and random payloads after every valid variant index")
    func randomInput() {
        var generator = SplitMix64(seed: 0xBADC0DE)
        var stats = FuzzStats()
        for round in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...48, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            checkFrame(bytes, &stats, "random #\(round): \(hex(bytes))")
            // A well-formed header around random payload bytes.
            var frame: [UInt8] = []
            RivvenFrame.encode(correlationID: UInt32(round), into: &frame) { $0 += bytes }
            checkFrame(frame, &stats, "framed #\(round): \(hex(frame))")
        }
        for index in 0..<UInt8(64) {
            for round in 0..<300 {
                let tail = (0..<Int.random(in: 0...32, using: &generator)).map { _ in
                    // Mostly small bytes, so tags and lengths are often valid and decoding goes deep.
                    Bool.random(using: &generator)
                        ? UInt8.random(in: 0...3, using: &generator) : UInt8.random(in: 0...255, using: &generator)
                }
                checkPayload([index] + tail, &stats, "variant \(index) #\(round): \(hex(tail))")
            }
        }
        #expect(stats.accepted > 50)
        #expect(stats.refused > 10_000)
    }

    @Test("a stream of mutated frames through the frame decoder in random chunks")
    func mutatedStream() throws {
        let fixtures = try RivvenFixture.all()
        try #require(!fixtures.isEmpty)
        var generator = SplitMix64(seed: 31_337)
        var stats = FuzzStats()
        var framesSeen = 0
        for round in 0..<60 {
            var stream: [UInt8] = []
            for _ in 0..<80 {
                let fixture = fixtures.randomElement(using: &generator)!
                stream +=
                    Int.random(in: 0..<4, using: &generator) == 0
                    ? mutate(fixture.frame, using: &generator) : fixture.frame
            }
            var decoder = RivvenFrameDecoder(
                maxFrameLength: Bool.random(using: &generator) ? 512 : RivvenLimits.maxRequestFrameLength
            )
            var index = 0
            feeding: while index < stream.count {
                let end = min(stream.count, index + Int.random(in: 1...97, using: &generator))
                decoder.append(stream[index..<end])
                index = end
                while true {
                    do {
                        guard let frame = try decoder.next() else { break }
                        framesSeen += 1
                        #expect(frame.payload.count + RivvenFrame.minimumLength <= decoder.maxFrameLength + 0)
                        checkPayload(Array(frame.payload), &stats, "stream \(round) frame \(framesSeen)")
                        if frame.format == RivvenFrame.postcardFormat {
                            _ = try? RivvenRequest.decode(frame)
                            _ = try? RivvenResponse.decode(frame)
                        }
                    } catch {
                        stats.refuse(error)
                        #expect(error.position >= 0 && error.position <= stream.count)
                        if error.code == .frameTooLarge {
                            #expect(decoder.isFailed)
                            break feeding
                        }
                        #expect(error.code == .frameTooShort)
                    }
                }
            }
        }
        #expect(framesSeen > 300)
    }
}
