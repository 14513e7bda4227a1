import Benchmark
import FastIngest

// Hot-path benchmarks of FastIngest's public API. One iteration = 1000 messages (`scalingFactor: .kilo`), so
// `throughput` reads as messages per second and `mallocCountTotal` as allocations per 1000 messages.
//
// The checked-in thresholds (../../Thresholds/IngestBenchmarks.<name>.p90.json) hold `mallocCountTotal` at 0 once
// the warm-up iteration has grown the reused buffers: `swift package --disable-sandbox benchmark thresholds check`.
//
// Not benchmarked yet: `MessageRing` push/pop and `BatchAccumulator` are `package` declarations, which a nested
// package cannot see (README.md in this folder lists what would have to become `public`).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    let jsonFixture = EnvelopeFixture(payload: Payloads.json256)
    precondition(jsonFixture.sample().contains(#","payload":{"device":"#), "JSON payload was not parsed as JSON")

    let binaryFixture = EnvelopeFixture(payload: Payloads.binary256)
    precondition(binaryFixture.sample().contains(#""payload_b64":""#), "binary payload did not get payload_b64")

    // A 256 B JSON object: serde_json-compatible canonicalisation plus the envelope.
    Benchmark("EnvelopeEncodeJSON256B") { benchmark in
        for _ in benchmark.scaledIterations {
            jsonFixture.encodeOne()
        }
        blackHole(jsonFixture.finishIteration())
    }

    // 256 B that are not UTF-8: the JSON attempt fails, then the lossy string and `payload_b64` are written.
    Benchmark("EnvelopeEncodeBinary256B") { benchmark in
        for _ in benchmark.scaledIterations {
            binaryFixture.encodeOne()
        }
        blackHole(binaryFixture.finishIteration())
    }

    // `JSONPayload.appendCanonical` starts from empty scratch storage on every call, so it allocates for payloads
    // with objects (its documented cost; the encoder keeps warm scratch instead). No zero-allocation threshold: this
    // one shows that the malloc counter really counts.
    let canonical = CanonicalFixture(payload: Payloads.json256)
    Benchmark("JSONCanonicalColdScratch256B") { benchmark in
        for _ in benchmark.scaledIterations {
            canonical.appendOne()
        }
        blackHole(canonical.finishIteration())
    }

    // The two timestamps of every envelope, without the encoder's per-second cache (`RFC3339.append`).
    let timestamps = TimestampFixture()
    Benchmark("RFC3339Append") { benchmark in
        for _ in benchmark.scaledIterations {
            timestamps.appendOne()
        }
        blackHole(timestamps.finishIteration())
    }
}

/// Encoder, inputs and output buffer kept across iterations, so only the warm-up iteration grows storage.
///
/// Each message is encoded into `out`, which is cleared (capacity kept) once per message, the way a writer reuses
/// its record buffer.
final class EnvelopeFixture: @unchecked Sendable {
    // @unchecked: a benchmark runs its iterations on one thread; the fixture is never shared between benchmarks.
    private var encoder = EnvelopeEncoder(
        brokerURL: "mqtt://127.0.0.1:1883",
        clientID: "rivven-mqtt-bench",
        parseJSONPayload: true,
        includeMetadata: true
    )
    private let topic: [UInt8] = Array("plant/7/line/3/sensor/0042/telemetry".utf8)
    private let payload: [UInt8]
    private var out: [UInt8] = []
    private var clock = SyntheticClock()
    private var encodedBytes = 0

    init(payload: [UInt8]) {
        self.payload = payload
    }

    /// Encodes one message into the reused buffer.
    @inline(__always)
    func encodeOne() {
        let receivedAt = clock.next()
        let encodedAt = WallClockTime(nanosecondsSinceEpoch: receivedAt.nanosecondsSinceEpoch &+ 41_273)
        out.removeAll(keepingCapacity: true)
        topic.withUnsafeBytes { topicBytes in
            payload.withUnsafeBytes { payloadBytes in
                encoder.encode(
                    topic: topicBytes,
                    payload: payloadBytes,
                    qos: 1,
                    retain: false,
                    pkid: 4242,
                    receivedAt: receivedAt,
                    encodedAt: encodedAt,
                    into: &out
                )
            }
        }
        encodedBytes &+= out.count
    }

    /// Bytes encoded since the last call (keeps the work observable).
    func finishIteration() -> Int {
        defer { encodedBytes = 0 }
        return encodedBytes
    }

    /// One envelope as text, for the set-up sanity checks (allocates; not measured).
    func sample() -> String {
        encodeOne()
        _ = finishIteration()
        return String(decoding: out, as: UTF8.self)
    }
}

/// `JSONPayload.appendCanonical` into a reused buffer.
final class CanonicalFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    private let payload: [UInt8]
    private var out: [UInt8] = []
    private var written = 0

    init(payload: [UInt8]) {
        self.payload = payload
    }

    @inline(__always)
    func appendOne() {
        out.removeAll(keepingCapacity: true)
        let accepted = payload.withUnsafeBytes { JSONPayload.appendCanonical($0, to: &out) }
        precondition(accepted)
        written &+= out.count
    }

    func finishIteration() -> Int {
        defer { written = 0 }
        return written
    }
}

/// `RFC3339.append` of both envelope forms into a reused buffer.
final class TimestampFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    private var out: [UInt8] = []
    private var clock = SyntheticClock()
    private var written = 0

    @inline(__always)
    func appendOne() {
        let t = clock.next()
        out.removeAll(keepingCapacity: true)
        RFC3339.append(t, zulu: true, to: &out)
        RFC3339.append(t, zulu: false, to: &out)
        written &+= out.count
    }

    func finishIteration() -> Int {
        defer { written = 0 }
        return written
    }
}

/// Receive times 4.321 µs apart from 2026-11-23T08:00:00Z: nine fraction digits, a new second every ~231k messages,
/// like a steady stream stamped by CLOCK_REALTIME.
struct SyntheticClock {
    private var nanoseconds: Int64 = 1_795_420_800_000_000_000

    @inline(__always)
    mutating func next() -> WallClockTime {
        nanoseconds &+= 4_321
        return WallClockTime(nanosecondsSinceEpoch: nanoseconds)
    }
}

/// The benchmark payloads, 256 bytes each.
enum Payloads {
    /// A sensor reading as a JSON object, padded to exactly 256 bytes with a string field.
    static let json256: [UInt8] = {
        let head =
            #"{"device":"sensor-0042","ts":1795420800123,"temperature":21.375,"humidity":48.25,"#
            + #""pressure":1013.2,"battery":3.71,"status":"ok","tags":["plant-7","line-3"],"note":""#
        let tail = #""}"#
        let padding = 256 - head.utf8.count - tail.utf8.count
        precondition(padding > 0)
        let bytes = Array((head + String(repeating: "x", count: padding) + tail).utf8)
        precondition(bytes.count == 256)
        return bytes
    }()

    /// 256 pseudo-random bytes (xorshift64, fixed seed) starting with 0xFF, so the payload is never valid UTF-8.
    static let binary256: [UInt8] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var bytes: [UInt8] = [0xFF]
        while bytes.count < 256 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes.append(UInt8(truncatingIfNeeded: state >> 24))
        }
        return bytes
    }()
}
