import FastIngest
import Testing

@Suite("Rivven batch encoder")
struct RivvenBatchEncoderTests {
    /// Value bytes to cut records from (building each value byte by byte is slow in debug builds).
    static let pattern: [UInt8] = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    static func randomRecords(_ count: Int, using generator: inout SplitMix64) -> [RivvenBatchRecord] {
        (0..<count).map { _ in
            let keyKind = Int.random(in: 0..<3, using: &generator)
            let key: [UInt8]? =
                keyKind == 0
                ? nil
                : (0..<Int.random(in: 0...(keyKind == 1 ? 0 : 40), using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            let sizes = [0, 1, 127, 128, 300, 16_383, 16_384, 20_000]
            let size =
                Bool.random(using: &generator)
                ? sizes.randomElement(using: &generator)! : Int.random(in: 0...64, using: &generator)
            return RivvenBatchRecord(key: key, value: Array(pattern[..<size]))
        }
    }

    /// The request the batch encoder should produce, through the enum.
    static func reference(
        topic: String,
        partition: UInt32?,
        records: [RivvenBatchRecord],
        idempotence: RivvenIdempotence?,
        leaderEpoch: UInt64?,
        correlationID: UInt32
    ) -> [UInt8] {
        let request: RivvenRequest =
            if let idempotence {
                .idempotentPublishBatch(
                    topic: topic,
                    partition: partition,
                    records: records,
                    idempotence: idempotence,
                    leaderEpoch: leaderEpoch
                )
            } else {
                .publishBatch(topic: topic, partition: partition, records: records, leaderEpoch: leaderEpoch)
            }
        return request.frame(correlationID: correlationID)
    }

    @Test("begin/append/finish and the closure form equal the enum encoder; planned L equals the real one")
    func matchesEnum() throws {
        var generator = SplitMix64(seed: 2024)
        for round in 0..<150 {
            let count = [0, 1, 2, 5, 127, 128, 200].randomElement(using: &generator)!
            let records = Self.randomRecords(count, using: &generator)
            let topic = ["golden", "iot-events", "t", String(repeating: "x", count: 200)].randomElement(
                using: &generator
            )!
            let partition: UInt32? =
                Bool.random(using: &generator) ? UInt32.random(in: 0...1000, using: &generator) : nil
            let idempotence: RivvenIdempotence? =
                round % 2 == 0
                ? nil
                : RivvenIdempotence(
                    producerID: UInt64.random(in: 0...UInt64.max, using: &generator)
                        >> UInt64.random(in: 0...63, using: &generator),
                    producerEpoch: UInt16.random(in: 0...UInt16.max, using: &generator),
                    baseSequence: Int32.random(in: Int32.min...Int32.max, using: &generator)
                        >> Int32.random(in: 0...31, using: &generator)
                )
            let leaderEpoch: UInt64? = round % 3 == 0 ? UInt64(round) * 1_000_003 : nil
            let correlationID = UInt32(round)
            let expected = Self.reference(
                topic: topic,
                partition: partition,
                records: records,
                idempotence: idempotence,
                leaderEpoch: leaderEpoch,
                correlationID: correlationID
            )

            // Three steps, from arrays and from borrowed memory alternately, after something already in the buffer.
            var out: [UInt8] = [1, 2, 3]
            var mark = RivvenBatchEncoder.begin(
                correlationID: correlationID,
                topic: topic,
                partition: partition,
                expectedRecordCount: records.count,
                idempotence: idempotence,
                into: &out
            )
            for (index, record) in records.enumerated() {
                if index % 2 == 0 {
                    RivvenBatchEncoder.appendRecord(key: record.key, value: record.value, to: &mark, into: &out)
                } else {
                    record.value.withUnsafeBytes { value in
                        if let key = record.key {
                            key.withUnsafeBytes {
                                RivvenBatchEncoder.appendRecord(key: $0, value: value, to: &mark, into: &out)
                            }
                        } else {
                            RivvenBatchEncoder.appendRecord(key: nil, value: value, to: &mark, into: &out)
                        }
                    }
                }
            }
            #expect(mark.recordCount == records.count)
            let length = RivvenBatchEncoder.finish(mark, leaderEpoch: leaderEpoch, into: &out)
            #expect(Array(out[..<3]) == [1, 2, 3])
            #expect(Array(out[3...]) == expected)
            #expect(length == expected.count - 4)

            // The closure form.
            var closureOut: [UInt8] = []
            let closureLength = RivvenBatchEncoder.encode(
                correlationID: correlationID,
                topic: topic,
                partition: partition,
                expectedRecordCount: records.count,
                idempotence: idempotence,
                leaderEpoch: leaderEpoch,
                into: &closureOut
            ) { append in
                for record in records {
                    record.value.withUnsafeBytes { value in
                        if let key = record.key {
                            key.withUnsafeBytes { append($0, value) }
                        } else {
                            append(nil, value)
                        }
                    }
                }
            }
            #expect(closureOut == expected)
            #expect(closureLength == length)

            // Planning.
            let recordsLength = records.reduce(0) {
                $0 + RivvenBatchEncoder.encodedRecordLength(keyLength: $1.key?.count, valueLength: $1.value.count)
            }
            let planned = RivvenBatchEncoder.frameLength(
                topicUTF8Count: topic.utf8.count,
                partition: partition,
                recordCount: records.count,
                recordsLength: recordsLength,
                idempotence: idempotence,
                leaderEpoch: leaderEpoch
            )
            #expect(planned == length)

            // And it decodes back.
            let decoded = try RivvenRequest.decodeFrame(expected, maxFrameLength: Int(UInt32.max))
            #expect(decoded.correlationID == correlationID)
        }
    }

    @Test(
        "a record count different from the expected one is corrected",
        arguments: [
            (0, 0), (0, 5), (5, 0), (3, 127), (127, 3), (0, 128), (200, 3), (128, 16_383), (16_384, 2), (0, 16_384),
        ]
    )
    func countCorrection(expected: Int, actual: Int) throws {
        var generator = SplitMix64(seed: UInt64(expected * 100_000 + actual))
        let records = (0..<actual).map { index in
            RivvenBatchRecord(
                key: index % 3 == 0 ? nil : [UInt8(index & 0xFF)],
                value: [UInt8](repeating: 7, count: Int.random(in: 0...3, using: &generator))
            )
        }
        for idempotence in [nil, RivvenIdempotence(producerID: 9, producerEpoch: 1, baseSequence: 77)] {
            var out: [UInt8] = []
            var mark = RivvenBatchEncoder.begin(
                correlationID: 5,
                topic: "golden",
                partition: 1,
                expectedRecordCount: expected,
                idempotence: idempotence,
                into: &out
            )
            for record in records {
                RivvenBatchEncoder.appendRecord(key: record.key, value: record.value, to: &mark, into: &out)
            }
            RivvenBatchEncoder.finish(mark, into: &out)
            let reference = Self.reference(
                topic: "golden",
                partition: 1,
                records: records,
                idempotence: idempotence,
                leaderEpoch: nil,
                correlationID: 5
            )
            #expect(out == reference)
        }
    }

    @Test("a value written in place")
    func valueInPlace() throws {
        var out: [UInt8] = []
        var mark = RivvenBatchEncoder.begin(
            correlationID: 0,
            topic: "golden-one",
            partition: 0,
            expectedRecordCount: 2,
            into: &out
        )
        let key: [UInt8] = Array("kb2".utf8)
        key.withUnsafeBytes { key in
            RivvenBatchEncoder.appendRecord(key: key, valueLength: 2, to: &mark, into: &out) { $0 += Array("b2".utf8) }
        }
        RivvenBatchEncoder.appendRecord(key: nil, valueLength: 2, to: &mark, into: &out) {
            $0.append(0x62)
            $0.append(0x33)
        }
        RivvenBatchEncoder.finish(mark, into: &out)
        // Fixture 063 (golden), WIRE.md §7.5.
        #expect(hex(out) == "000000210000000000260a676f6c64656e2d6f6e6501000201036b62320262320002623300")
    }

    @Test("a failing record source leaves the buffer as it was")
    func rollbackOnThrow() {
        struct SourceFailed: Error {}
        var out: [UInt8] = [9, 9]
        #expect(throws: SourceFailed.self) {
            try RivvenBatchEncoder.encode(
                correlationID: 1,
                topic: "t",
                partition: nil,
                expectedRecordCount: 3,
                into: &out
            ) { (append) throws(SourceFailed) in
                [UInt8](repeating: 1, count: 100).withUnsafeBytes { append(nil, $0) }
                throw SourceFailed()
            }
        }
        #expect(out == [9, 9])

        var explicit: [UInt8] = [4]
        let mark = RivvenBatchEncoder.begin(
            correlationID: 1,
            topic: "t",
            partition: 0,
            expectedRecordCount: 1,
            into: &explicit
        )
        RivvenBatchEncoder.rollback(mark, in: &explicit)
        #expect(explicit == [4])
    }

    @Test("encodePublish from borrowed memory equals the enum's Publish")
    func publishFromMemory() throws {
        let cases: [(key: [UInt8]?, value: [UInt8], partition: UInt32?, epoch: UInt64?)] = [
            (nil, Array("hello".utf8), nil, nil), ([], [], nil, nil), (Array("user-1".utf8), Array("world".utf8), 2, 7),
            (nil, (0..<306).map { UInt8(truncatingIfNeeded: $0) }, nil, nil),
        ]
        for entry in cases {
            var out: [UInt8] = []
            _ = entry.value.withUnsafeBytes { value in
                if let key = entry.key {
                    key.withUnsafeBytes {
                        RivvenRequest.encodePublish(
                            correlationID: 10,
                            topic: "golden-one",
                            partition: entry.partition,
                            key: $0,
                            value: value,
                            leaderEpoch: entry.epoch,
                            into: &out
                        )
                    }
                } else {
                    RivvenRequest.encodePublish(
                        correlationID: 10,
                        topic: "golden-one",
                        partition: entry.partition,
                        key: nil,
                        value: value,
                        leaderEpoch: entry.epoch,
                        into: &out
                    )
                }
            }
            let request = RivvenRequest.publish(
                topic: "golden-one",
                partition: entry.partition,
                key: entry.key,
                value: entry.value,
                leaderEpoch: entry.epoch
            )
            #expect(out == request.frame(correlationID: 10))
        }
    }

    @Test("RivvenFrame.encode writes header, payload and L")
    func frameEncode() throws {
        var out: [UInt8] = [0xAB]
        let length = RivvenFrame.encode(correlationID: 0x0102_0304, into: &out) { $0 += [0x0D] }
        #expect(length == 6)
        #expect(out == [0xAB, 0, 0, 0, 6, 0, 1, 2, 3, 4, 0x0D])
    }
}
