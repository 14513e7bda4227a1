import FastIngest
import Testing

private func requestError(_ payload: [UInt8]) -> RivvenCodecError? {
    do {
        _ = try RivvenRequest.decode(payload: payload[...])
        return nil
    } catch {
        return error
    }
}

private func responseError(_ payload: [UInt8]) -> RivvenCodecError? {
    do {
        _ = try RivvenResponse.decode(payload: payload[...])
        return nil
    } catch {
        return error
    }
}

private func payload(_ request: RivvenRequest) -> [UInt8] {
    var out: [UInt8] = []
    request.encodePayload(into: &out)
    return out
}

private func payload(_ response: RivvenResponse) -> [UInt8] {
    var out: [UInt8] = []
    response.encodePayload(into: &out)
    return out
}

/// Message-level strictness: unknown and unsupported variants, trailing bytes, bad tags inside messages, the broker's
/// bounds, and positions reported in frame coordinates.
@Suite("Rivven message strictness")
struct RivvenMessageStrictnessTests {
    @Test("unknown variant indices")
    func unknownVariants() {
        #expect(requestError([40]) == RivvenCodecError(.unknownVariant, at: 0, value: 40))
        #expect(
            requestError([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) == RivvenCodecError(.unknownVariant, at: 0, value: 0xFFFF_FFFF)
        )
        #expect(responseError([42]) == RivvenCodecError(.unknownVariant, at: 0, value: 42))
        #expect(responseError([0x80, 0x01]) == RivvenCodecError(.unknownVariant, at: 0, value: 128))
        // The index itself is a u32 varint: overlong and overflowing forms are refused as such.
        #expect(requestError([0x8D, 0x00])?.code == .overlongVarint)
        #expect(responseError([0xFF, 0xFF, 0xFF, 0xFF, 0x1F])?.code == .varintOverflow)
        #expect(requestError([])?.code == .truncated)
        #expect(responseError([])?.code == .truncated)
    }

    @Test("variants the protocol has but the codec does not implement")
    func unsupportedVariants() {
        for index in 0..<UInt32(RivvenRequest.variantNames.count)
        where !RivvenRequest.implementedVariantIndices.contains(index) {
            #expect(
                requestError([UInt8(index), 0, 0, 0])
                    == RivvenCodecError(.unsupportedVariant, at: 0, value: UInt64(index))
            )
        }
        for index in 0..<UInt32(RivvenResponse.variantNames.count)
        where !RivvenResponse.implementedVariantIndices.contains(index) {
            #expect(
                responseError([UInt8(index), 0, 0, 0])
                    == RivvenCodecError(.unsupportedVariant, at: 0, value: UInt64(index))
            )
        }
        #expect(RivvenRequest.implementedVariantIndices.count == 19)
        #expect(RivvenResponse.implementedVariantIndices.count == 21)
    }

    @Test("bytes after a complete message are refused")
    func trailingBytes() {
        #expect(requestError([0x0D, 0x00]) == RivvenCodecError(.trailingBytes, at: 1, value: 1))
        #expect(responseError([0x0C, 0x0C, 0x0C]) == RivvenCodecError(.trailingBytes, at: 1, value: 2))
        var publish = payload(RivvenRequest.publish(topic: "t", partition: nil, key: nil, value: [1], leaderEpoch: nil))
        publish.append(0)
        #expect(requestError(publish)?.code == .trailingBytes)
    }

    @Test("a message cut anywhere is truncated, never anything else")
    func cutMessages() {
        let requests: [RivvenRequest] = [
            .handshake(protocolVersion: 2, clientID: "rivven-client"),
            .publishBatch(
                topic: "golden",
                partition: 1,
                records: [
                    RivvenBatchRecord(key: [1, 2], value: Array(repeating: 7, count: 200)),
                    RivvenBatchRecord(value: []),
                ],
                leaderEpoch: 12
            ),
            .idempotentPublishBatch(
                topic: "t",
                partition: nil,
                records: [RivvenBatchRecord(value: [9])],
                idempotence: RivvenIdempotence(producerID: 1 << 40, producerEpoch: 300, baseSequence: -5),
                leaderEpoch: nil
            ),
            .consume(topic: "c", partition: 3, offset: 1 << 33, maxMessages: 100, isolationLevel: 1, maxWaitMs: 1000),
        ]
        for request in requests {
            let bytes = payload(request)
            for cut in 0..<bytes.count {
                #expect(requestError(Array(bytes[..<cut]))?.code == .truncated, "\(request.variantName) cut at \(cut)")
            }
        }
        let responses: [RivvenResponse] = [
            .messages([
                RivvenMessage(
                    offset: 5,
                    partition: 1,
                    key: [1],
                    value: [2, 3],
                    timestamp: -7,
                    headers: [RivvenMessage.Header(name: "h", value: [4])]
                )
            ]),
            .scramServerFinal(message: Array("v=abc".utf8), sessionID: "s", expiresIn: 3600),
            .idempotentPublishedBatch(baseOffset: 1 << 50, partition: 2, recordCount: 3, duplicate: true),
        ]
        for response in responses {
            let bytes = payload(response)
            for cut in 0..<bytes.count {
                #expect(
                    responseError(Array(bytes[..<cut]))?.code == .truncated,
                    "\(response.variantName) cut at \(cut)"
                )
            }
        }
    }

    @Test("bad bool and option tags inside messages")
    func badTags() {
        // HandshakeResult{2, compatible: 02, "OK"}
        #expect(responseError([0x23, 0x02, 0x02, 0x02, 0x4F, 0x4B]) == RivvenCodecError(.invalidBool, at: 2, value: 2))
        // CreateTopic{"t", partitions: tag 02}
        #expect(requestError([0x06, 0x01, 0x74, 0x02, 0x03]) == RivvenCodecError(.invalidOption, at: 3, value: 2))
        // Publish with a partition Some(overlong 0)
        #expect(requestError([0x04, 0x01, 0x74, 0x01, 0x80, 0x00, 0x00, 0x00, 0x00])?.code == .overlongVarint)
        // Error with invalid UTF-8
        #expect(responseError([0x12, 0x02, 0xC3, 0x28]) == RivvenCodecError(.invalidUTF8, at: 2))
        // Consume.isolation_level is a raw u8: 0xFF is a valid value, not a varint start.
        let consume: [UInt8] = [0x05, 0x01, 0x74, 0x00, 0x00, 0x01, 0x01, 0xFF, 0x00]
        #expect(requestError(consume) == nil)
    }

    @Test("the broker's bounds: names, lists, authentication payloads")
    func limits() {
        let longName = String(repeating: "a", count: 257)
        let okName = String(repeating: "a", count: 256)
        #expect(requestError(payload(RivvenRequest.createTopic(name: okName, partitions: 1))) == nil)
        #expect(
            requestError(payload(RivvenRequest.createTopic(name: longName, partitions: 1)))
                == RivvenCodecError(.limitExceeded, at: 1, value: 257)
        )
        #expect(
            requestError(payload(RivvenRequest.handshake(protocolVersion: 2, clientID: longName)))?.code
                == .limitExceeded
        )
        #expect(
            requestError(
                payload(RivvenRequest.publish(topic: longName, partition: nil, key: nil, value: [], leaderEpoch: nil))
            )?.code == .limitExceeded
        )
        // GetOffsetBounds is not bounded by rivvend; neither is it here.
        #expect(requestError(payload(RivvenRequest.getOffsetBounds(topic: longName, partition: 0))) == nil)

        let auth = RivvenLimits.maxAuthPayloadLength
        #expect(
            requestError(payload(RivvenRequest.scramClientFirst(message: Array(repeating: 0x61, count: auth)))) == nil
        )
        #expect(
            requestError(payload(RivvenRequest.scramClientFirst(message: Array(repeating: 0x61, count: auth + 1))))?
                .code == .limitExceeded
        )
        #expect(
            requestError(payload(RivvenRequest.scramClientFinal(message: Array(repeating: 0x61, count: auth + 1))))?
                .code == .limitExceeded
        )
        #expect(
            requestError(
                payload(
                    RivvenRequest.authenticate(
                        username: "u",
                        password: String(repeating: "p", count: auth + 1),
                        requireTLS: false
                    )
                )
            )?.code == .limitExceeded
        )

        let records = Array(repeating: RivvenBatchRecord(value: []), count: RivvenLimits.maxListLength)
        #expect(
            requestError(
                payload(RivvenRequest.publishBatch(topic: "t", partition: nil, records: records, leaderEpoch: nil))
            ) == nil
        )
        let tooMany = records + [RivvenBatchRecord(value: [])]
        #expect(
            requestError(
                payload(RivvenRequest.publishBatch(topic: "t", partition: nil, records: tooMany, leaderEpoch: nil))
            ) == RivvenCodecError(.limitExceeded, at: 4, value: 10_001)
        )
        let idempotence = RivvenIdempotence(producerID: 1, producerEpoch: 0, baseSequence: 0)
        #expect(
            requestError(
                payload(
                    RivvenRequest.idempotentPublishBatch(
                        topic: "t",
                        partition: nil,
                        records: tooMany,
                        idempotence: idempotence,
                        leaderEpoch: nil
                    )
                )
            )?.code == .limitExceeded
        )

        #expect(responseError(payload(RivvenResponse.topics(Array(repeating: "t", count: 10_000)))) == nil)
        #expect(
            responseError(payload(RivvenResponse.topics(Array(repeating: "t", count: 10_001))))?.code == .limitExceeded
        )
        #expect(responseError(payload(RivvenResponse.topics([longName])))?.code == .limitExceeded)
        // More than 100 000 messages: refused on the count alone.
        #expect(responseError([0x04, 0xA1, 0x8D, 0x06]) == RivvenCodecError(.limitExceeded, at: 1, value: 100_001))
    }

    @Test("frame-level decoding: format byte, length prefix, positions in frame coordinates")
    func frames() throws {
        var ping: [UInt8] = []
        RivvenRequest.ping.encode(correlationID: 7, into: &ping)
        #expect(ping == [0, 0, 0, 6, 0, 0, 0, 0, 7, 0x0D])
        let (correlationID, request) = try RivvenRequest.decodeFrame(ping)
        #expect(correlationID == 7 && request == .ping)

        var protobuf = ping
        protobuf[4] = 1
        #expect(throws: RivvenCodecError(.badFormat, at: 4, value: 1)) { try RivvenRequest.decodeFrame(protobuf) }
        #expect(throws: RivvenCodecError(.badFormat, at: 4, value: 1)) { try RivvenResponse.decodeFrame(protobuf) }

        #expect(throws: RivvenCodecError(.truncated, at: 9, value: 6)) {
            try RivvenRequest.decodeFrame(Array(ping.dropLast()))
        }
        #expect(throws: RivvenCodecError(.trailingBytes, at: 10, value: 1)) {
            try RivvenRequest.decodeFrame(ping + [0])
        }
        #expect(throws: RivvenCodecError(.truncated, at: 3)) { try RivvenRequest.decodeFrame([0, 0, 0]) }
        #expect(throws: RivvenCodecError(.frameTooShort, at: 0, value: 4)) {
            try RivvenRequest.decodeFrame([0, 0, 0, 4, 0, 0, 0, 0])
        }
        // L = 5: a header with an empty payload.
        #expect(throws: RivvenCodecError(.truncated, at: 9)) {
            try RivvenRequest.decodeFrame([0, 0, 0, 5, 0, 0, 0, 0, 1])
        }
        let tooLarge: [UInt8] = [0x00, 0xA0, 0x00, 0x01, 0, 0, 0, 0, 0]
        #expect(throws: RivvenCodecError(.frameTooLarge, at: 0, value: 10_485_761)) {
            try RivvenRequest.decodeFrame(tooLarge)
        }

        // An error inside the payload is reported at its place in the frame.
        let handshake: [UInt8] = [0, 0, 0, 0x0B, 0, 0, 0, 0, 0, 0x23, 0x02, 0x05, 0x02, 0x4F, 0x4B]
        #expect(throws: RivvenCodecError(.invalidBool, at: 11, value: 5)) { try RivvenResponse.decodeFrame(handshake) }
    }

    @Test("WIRE.md §6 and §8 examples not covered by a fixture")
    func wireExamples() throws {
        func bytes(_ text: String) -> [UInt8] { unhex(text)! }
        // Copied from WIRE.md (spaces kept; `unhex` skips them).
        let examples: [(String, RivvenResponse)] = [
            (
                "00 00 00 0b 00 00 00 00 00 23 02 01 02 4f 4b",
                .handshakeResult(serverVersion: 2, compatible: true, message: "OK")
            ),
            ("00 00 00 0e 00 00 00 00 02 05 06 67 6f 6c 64 65 6e 03", .topicCreated(name: "golden", partitions: 3)),
            ("00 00 00 0e 00 00 00 00 08 0a 06 67 6f 6c 64 65 6e 03", .metadata(name: "golden", partitions: 3)),
            ("00 00 00 06 00 00 00 00 01 0c", .pong),
            ("00 00 00 08 00 00 00 00 0b 03 01 00", .published(offset: 1, partition: 0)),
            ("00 00 00 09 00 00 00 00 00 28 07 00 02", .publishedBatch(baseOffset: 7, partition: 0, recordCount: 2)),
            ("00 00 00 08 00 00 00 00 15 14 01 01", .producerIDInitialized(producerID: 1, producerEpoch: 1)),
            (
                "00 00 00 0a 00 00 00 00 00 29 00 00 02 01",
                .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: true)
            ),
            ("00 00 00 08 00 00 00 00 02 0d 00 04", .offsetBounds(earliest: 0, latest: 4)),
            ("00 00 00 06 00 00 00 00 05 13", .ok),
            (
                "00 00 00 26 00 00 00 00 09 1e dc 0b 12 " + hex(Array("produce_bytes_rate".utf8)) + " 0a "
                    + hex(Array("user:alice".utf8)),
                .throttled(throttleTimeMs: 1500, quotaType: "produce_bytes_rate", entity: "user:alice")
            ),
            ("00 00 00 0c 00 00 00 00 01 00 03 61 62 63 90 1c", .authenticated(sessionID: "abc", expiresIn: 3600)),
        ]
        for (text, response) in examples {
            let frame = bytes(text)
            #expect(try RivvenResponse.decodeFrame(frame).response == response, "\(text)")
            var out: [UInt8] = []
            response.encode(correlationID: try RivvenFrame.parse(frame).correlationID, into: &out)
            #expect(hex(out) == hex(frame))
        }
        // §6 Authenticate ("ours", = fixture S02) and §7.4's explicit partition 2.
        #expect(
            RivvenRequest.authenticate(username: "u", password: "p", requireTLS: true).frame(correlationID: 1)
                == bytes("00 00 00 0b 00 00 00 00 01 00 01 75 01 70 01")
        )
        let publish = RivvenRequest.publish(
            topic: "t",
            partition: 2,
            key: nil,
            value: Array("v".utf8),
            leaderEpoch: nil
        )
        #expect(hex(publish.frame(correlationID: 0)).hasSuffix(hex(bytes("04 01 74 01 02 00 01 76 00"))))
    }
}
