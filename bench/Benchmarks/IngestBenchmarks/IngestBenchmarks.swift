import Benchmark
import FastIngest
import Glibc

// Hot-path benchmarks of FastIngest's public API. One iteration = 1000 messages (`scalingFactor: .kilo`), so
// `throughput` reads as messages per second and `mallocCountTotal` as allocations per 1000 messages.
//
// The checked-in thresholds (../../Thresholds/IngestBenchmarks.<name>.p90.json) hold `mallocCountTotal` at 0 once
// the warm-up iteration has grown the reused buffers: `swift package --disable-sandbox benchmark thresholds check`.
//
// Everything runs on one thread: the ring benchmarks measure the per-message work of both ends, not the cost of
// handing cache lines between the MQTT thread and the writer thread.

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

    // MessageRing: 1000 pushes (36 B topic + 256 B payload copied into the arena), then 1000 consumes. The arena
    // wraps every ~14 iterations.
    let ring = RingFixture()
    Benchmark("RingPushConsume256B") { benchmark in
        for _ in 0..<(benchmark.scaledIterations.count / RingFixture.burst) {
            ring.pushBurst()
            ring.consumeAll()
        }
        blackHole(ring.finishIteration())
    }

    // BatchAccumulator: add a ~900 B record, ask whether to close; close (reset) at 1000 records or 1 MiB, the
    // `batch:` defaults. Pure arithmetic: this is the floor of per-message bookkeeping.
    let accumulator = AccumulatorFixture()
    Benchmark("BatchAccumulatorAdd") { benchmark in
        for _ in benchmark.scaledIterations {
            accumulator.addOne()
        }
        blackHole(accumulator.finishIteration())
    }

    // The log writer's per-message work without I/O, as LogWriter.take does it: ring push, consume, local-log
    // record frame (LogRecordEncoder.begin), envelope JSON straight into the batch, frame finish (CRC-32C),
    // accumulator; the batch buffer is reset (capacity kept) where the writer would write it.
    let writer = WriterPathFixture()
    Benchmark("WriterPathJSON256B") { benchmark in
        for _ in 0..<(benchmark.scaledIterations.count / RingFixture.burst) {
            writer.pushBurst()
            writer.drain()
        }
        blackHole(writer.finishIteration())
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

    // The forwarder's encoding: 1000 records (no key, a 600 B value, about what a 256 B payload's envelope takes)
    // into one `IdempotentPublishBatch` frame (postcard), the records copied once into a reused buffer.
    let publishBatch = PublishBatchFixture()
    Benchmark("PublishBatchEncode600B") { benchmark in
        for _ in 0..<(benchmark.scaledIterations.count / PublishBatchFixture.batch) {
            publishBatch.encodeBatch()
        }
        blackHole(publishBatch.finishIteration())
    }

    // LocalLog.append of 1000-record batches (600 B values) through the io_uring writer where usable, without fsync
    // (the page-cache cost of the append path; fsync is the disk's). Retention keeps the directory under 256 MiB.
    let logAppend = LogAppendFixture()
    Benchmark("LocalLogAppend600B") { benchmark in
        for _ in 0..<(benchmark.scaledIterations.count / LogAppendFixture.batch) {
            logAppend.appendBatch()
        }
        blackHole(logAppend.finishIteration())
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

/// A ring of 4096 slots and 4 MiB, filled and drained in bursts.
final class RingFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture (producer and consumer are the same thread here).
    static let burst = 100
    private let ring = MessageRing(messages: 4096, bytes: 4 << 20)
    private let topic: [UInt8] = Array("plant/7/line/3/sensor/0042/telemetry".utf8)
    private let payload = Payloads.json256
    private var clock = SyntheticClock()
    private var packetID: UInt16 = 0
    private var consumedBytes = 0

    @inline(__always)
    func pushBurst() {
        var droppedOldest = 0
        topic.withUnsafeBytes { topicBytes in
            payload.withUnsafeBytes { payloadBytes in
                for _ in 0..<Self.burst {
                    packetID = packetID == UInt16.max ? 1 : packetID + 1
                    let result = ring.push(
                        topic: topicBytes,
                        payload: payloadBytes,
                        qos: 1,
                        retain: false,
                        packetID: packetID,
                        receivedAt: clock.next().nanosecondsSinceEpoch,
                        dropPolicy: .block,
                        droppedOldest: &droppedOldest
                    )
                    precondition(result == .queued)
                }
            }
        }
    }

    @inline(__always)
    func consumeAll() {
        while ring.consume(
            { message in
                consumedBytes &+= message.topic.count &+ message.payload.count &+ Int(message.packetID & 1)
                return true
            },
            rollback: {}
        ) == true {}
    }

    func finishIteration() -> Int {
        defer { consumedBytes = 0 }
        return consumedBytes
    }
}

/// A `BatchAccumulator` with the `batch:` defaults (1000 records, 1 MiB, linger 5 ms).
final class AccumulatorFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    private var accumulator = BatchAccumulator(maxMessages: 1000, maxBytes: 1 << 20, lingerMilliseconds: 5)
    private var now: Int64 = 1_000_000_000
    private var batches = 0

    @inline(__always)
    func addOne() {
        now &+= 4_321
        accumulator.add(size: 912, qos: 1, now: now)
        if accumulator.shouldClose(now: now, sourceIsEmpty: false) {
            batches &+= 1
            accumulator.reset()
        }
    }

    func finishIteration() -> Int {
        defer { batches = 0 }
        return batches
    }
}

/// Ring → log record frame → envelope → accumulator, as the log writer does it, minus the write.
final class WriterPathFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    private let ring = MessageRing(messages: 4096, bytes: 4 << 20)
    private let topic: [UInt8] = Array("plant/7/line/3/sensor/0042/telemetry".utf8)
    private let payload = Payloads.json256
    private var encoder = EnvelopeEncoder(
        brokerURL: "mqtt://127.0.0.1:1883",
        clientID: "rivven-mqtt-bench",
        parseJSONPayload: true,
        includeMetadata: true
    )
    private var accumulator = BatchAccumulator(maxMessages: 1000, maxBytes: 1 << 20, lingerMilliseconds: 5)
    private var batch: [UInt8] = []
    private var clock = SyntheticClock()
    private var packetID: UInt16 = 0
    private var nextOffset: UInt64 = 0
    private var batchesClosed = 0

    @inline(__always)
    func pushBurst() {
        var droppedOldest = 0
        topic.withUnsafeBytes { topicBytes in
            payload.withUnsafeBytes { payloadBytes in
                for _ in 0..<RingFixture.burst {
                    packetID = packetID == UInt16.max ? 1 : packetID + 1
                    let result = ring.push(
                        topic: topicBytes,
                        payload: payloadBytes,
                        qos: 1,
                        retain: false,
                        packetID: packetID,
                        receivedAt: clock.next().nanosecondsSinceEpoch,
                        dropPolicy: .block,
                        droppedOldest: &droppedOldest
                    )
                    precondition(result == .queued)
                }
            }
        }
    }

    @inline(__always)
    func drain() {
        while takeOne() {}
    }

    @inline(__always)
    private func takeOne() -> Bool {
        let start = batch.count
        var receivedAt: Int64 = 0
        let offset = nextOffset
        let consumed = ring.consume(
            { message in
                receivedAt = message.receivedAt
                let mark = LogRecordEncoder.begin(
                    offset: offset,
                    receiveTimeMicros: message.receivedAt / 1000,
                    topic: message.topic,
                    qos: message.qos,
                    retain: message.retain,
                    key: nil,
                    valueIsEnvelope: true,
                    into: &batch
                )
                encoder.encode(
                    topic: message.topic,
                    payload: message.payload,
                    qos: message.qos,
                    retain: message.retain,
                    pkid: Int(message.packetID),
                    receivedAt: WallClockTime(nanosecondsSinceEpoch: message.receivedAt),
                    encodedAt: WallClockTime(nanosecondsSinceEpoch: message.receivedAt &+ 41_273),
                    into: &batch
                )
                LogRecordEncoder.finish(mark, into: &batch)
                return true
            },
            rollback: {}
        )
        guard consumed == true else { return false }
        nextOffset &+= 1
        accumulator.add(size: batch.count - start, qos: 1, now: receivedAt)
        if accumulator.shouldClose(now: receivedAt, sourceIsEmpty: false) {
            // Here the writer appends `batch` to the log (and fsyncs); the benchmark only recycles the buffer.
            batchesClosed &+= 1
            batch.removeAll(keepingCapacity: true)
            accumulator.reset()
        }
        return true
    }

    func finishIteration() -> Int {
        defer { batchesClosed = 0 }
        return batchesClosed &+ batch.count
    }
}

/// `RivvenBatchEncoder` writing 1000-record `IdempotentPublishBatch` frames into a reused buffer.
final class PublishBatchFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    static let batch = 1000
    private let value = [UInt8](repeating: UInt8(ascii: "v"), count: 600)
    private var out: [UInt8] = []
    private var sequence: Int32 = 0
    private var bytes = 0

    @inline(__always)
    func encodeBatch() {
        out.removeAll(keepingCapacity: true)
        var mark = RivvenBatchEncoder.begin(
            correlationID: 7,
            topic: "iot-events",
            partition: 0,
            expectedRecordCount: Self.batch,
            idempotence: RivvenIdempotence(producerID: 1, producerEpoch: 0, baseSequence: sequence),
            into: &out
        )
        value.withUnsafeBytes { valueBytes in
            for _ in 0..<Self.batch {
                RivvenBatchEncoder.appendRecord(key: nil, value: valueBytes, to: &mark, into: &out)
            }
        }
        bytes &+= RivvenBatchEncoder.finish(mark, into: &out)
        sequence &+= Int32(Self.batch)
    }

    func finishIteration() -> Int {
        defer { bytes = 0 }
        return bytes
    }
}

/// A local log in a temporary directory, appended to in 1000-record batches.
final class LogAppendFixture: @unchecked Sendable {
    // @unchecked: as for EnvelopeFixture.
    static let batch = 1000
    private let log: LocalLog
    private let topic = Array("plant/7/line/3/sensor/0042/telemetry".utf8)
    private let value = [UInt8](repeating: UInt8(ascii: "v"), count: 600)
    private var out: [UInt8] = []
    private var written = 0

    init() {
        var template = Array("/tmp/rivven-mqtt-bench-log-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            log = try LocalLog(
                configuration: LogConfiguration(
                    dir: directory + "/data",
                    maxBytes: 256 << 20,
                    segmentBytes: 64 << 20,
                    fsync: .never
                )
            )
        } catch {
            fatalError("cannot open the benchmark log: \(error)")
        }
    }

    @inline(__always)
    func appendBatch() {
        out.removeAll(keepingCapacity: true)
        let first = log.nextOffset
        topic.withUnsafeBytes { topicBytes in
            value.withUnsafeBytes { valueBytes in
                for index in 0..<Self.batch {
                    LogRecordEncoder.append(
                        offset: first + UInt64(index),
                        receiveTimeMicros: 1_795_420_800_000_000 + Int64(index),
                        topic: topicBytes,
                        qos: 1,
                        retain: false,
                        key: nil,
                        value: valueBytes,
                        valueIsEnvelope: true,
                        into: &out
                    )
                }
            }
        }
        let failure: LogError? = out.withUnsafeBytes { batch in
            do throws(LogError) {
                try log.append(batch: batch, firstOffset: first, recordCount: Self.batch, sync: false)
                return nil
            } catch {
                return error
            }
        }
        precondition(failure == nil, "append failed: \(String(describing: failure))")
        written &+= out.count
    }

    func finishIteration() -> Int {
        defer { written = 0 }
        return written
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
