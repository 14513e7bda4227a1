import FastIngest
import Testing

/// The bench's payload header: written, parsed back, and found again inside the envelope the gateway writes.
@Suite("BenchPayload")
struct BenchPayloadTests {
    @Test(arguments: [
        (UInt64(0), Int64(0)), (UInt64(1), Int64(1)), (UInt64(199_999), Int64(1_234_567_890_123)),
        (BenchPayload.maximumSequence, Int64.max), (UInt64(42), Int64(-1)),
    ])
    func roundTrip(sequence: UInt64, time: Int64) {
        var payload = BenchPayload.template(size: 64)
        BenchPayload.write(sequence: sequence, publishedAt: time, into: &payload)
        #expect(payload.count == 64)
        #expect(payload[BenchPayload.headerSize...].allSatisfy { $0 == UInt8(ascii: "x") })
        let parsed = payload.withUnsafeBytes { BenchPayload.parse($0) }
        #expect(parsed?.sequence == sequence)
        #expect(parsed?.publishedAt == time)
    }

    @Test func headerIsReadableASCII() {
        var payload = BenchPayload.template(size: BenchPayload.headerSize)
        BenchPayload.write(sequence: 0xabc, publishedAt: 0x1f, into: &payload)
        #expect(String(decoding: payload, as: UTF8.self) == "RB0000000abc.000000000000001f.")
    }

    @Test func rejectsWhatIsNotAHeader() {
        for text in [
            "", "RB", "RB0000000abc.000000000000001f", "RB0000000abg.000000000000001f.",
            "xB0000000abc.000000000000001f.",
            "RB0000000abc-000000000000001f.", "RB0000000ABC.000000000000001f.",
        ] {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { BenchPayload.parse($0) } == nil, "\(text)")
            #expect(bytes.withUnsafeBytes { BenchPayload.find(in: $0) } == nil, "\(text)")
        }
    }

    /// The gateway's default record format wraps the payload in the rivven-connect envelope: the header must be found
    /// there, as the JSON string `data.payload`.
    @Test func foundInTheEnvelope() {
        var payload = BenchPayload.template(size: 256)
        BenchPayload.write(sequence: 123_456, publishedAt: 987_654_321, into: &payload)
        var encoder = EnvelopeEncoder(
            brokerURL: "mqtt://127.0.0.1:1883",
            clientID: "rivven-bench-RB-client",
            parseJSONPayload: true,
            includeMetadata: true
        )
        var envelope: [UInt8] = []
        let topic = Array("bench/0000abcd/p0".utf8)
        topic.withUnsafeBytes { topicBytes in
            payload.withUnsafeBytes { payloadBytes in
                encoder.encode(
                    topic: topicBytes,
                    payload: payloadBytes,
                    qos: 1,
                    retain: false,
                    pkid: 7,
                    receivedAt: WallClockTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000),
                    encodedAt: WallClockTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000),
                    into: &envelope
                )
            }
        }
        let text = String(decoding: envelope, as: UTF8.self)
        #expect(text.contains(#""payload":"RB000001e240."#), "\(text)")
        let found = envelope.withUnsafeBytes { BenchPayload.find(in: $0) }
        #expect(found?.sequence == 123_456)
        #expect(found?.publishedAt == 987_654_321)
    }
}

@Suite("SequenceTracker")
struct SequenceTrackerTests {
    @Test func countsUniqueDuplicatesAndMissing() {
        var tracker = SequenceTracker(expected: 130)
        #expect(tracker.missing == 130 && !tracker.isComplete)
        let firsts = [tracker.record(0), tracker.record(64), tracker.record(129)]
        let agains = [tracker.record(64), tracker.record(130), tracker.record(UInt64.max)]
        #expect(firsts == [true, true, true])
        #expect(agains == [false, false, false])
        #expect(tracker.unique == 3)
        #expect(tracker.duplicates == 1)
        #expect(tracker.outOfRange == 2)
        #expect(tracker.missing == 127)
        #expect(tracker.missingSequences(limit: 4) == [1, 2, 3, 4])
        for sequence in 0..<130 { tracker.record(UInt64(sequence)) }
        #expect(tracker.isComplete)
        #expect(tracker.duplicates == 4)
        #expect(tracker.missingSequences(limit: 10).isEmpty)
    }

    @Test func emptyWorkloadIsComplete() {
        let tracker = SequenceTracker(expected: 0)
        #expect(tracker.isComplete)
        #expect(tracker.missingSequences(limit: 1).isEmpty)
    }
}
