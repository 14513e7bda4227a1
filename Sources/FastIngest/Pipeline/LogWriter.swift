import Glibc
import Synchronization

/// The writer thread: drains every connection's ring into batches of log records (SPEC §6 framing, the value the
/// SPEC §5 envelope or the raw payload), appends each batch to the local log with group commit (one write + one
/// fdatasync per batch, through io_uring where available), then publishes durability to the rings so the MQTT
/// threads release their acknowledgements. It never drops a message: a failed write (disk full) is retried until
/// it succeeds, while the full rings push back on the brokers.
final class LogWriter: @unchecked Sendable {
    // @unchecked: everything mutable is used by the writer thread only; other threads touch `stopRequested`,
    // `signal` and the published state (`isFailing`, `isFull`, `logBytes`), which are atomic or Sendable.

    /// One connection's ring and how its records are encoded.
    final class Source {
        let ring: MessageRing
        var encoder: EnvelopeEncoder
        let format: RecordFormat
        /// Computes the record key from the raw message (`key: none|topic|json:FIELD|property:NAME`).
        var keyExtractor: RecordKeyExtractor
        /// Reused key bytes.
        var keyBuffer: [UInt8] = []
        /// Wakes the connection's MQTT thread when its messages became durable.
        let wakeConnection: () -> Void
        /// Ring position covered by records written (not necessarily synced) so far.
        var writtenTail: UInt64 = 0

        init(ring: MessageRing, source: SourceConfiguration, connectionIndex: Int, wakeConnection: @escaping () -> Void)
        {
            let mqtt = source.mqtt
            self.ring = ring
            self.encoder = EnvelopeEncoder(
                brokerURL: mqtt.brokerURL.original,
                clientID: mqtt.clientID(forConnection: connectionIndex),
                parseJSONPayload: mqtt.parseJSONPayload,
                includeMetadata: mqtt.includeMetadata
            )
            self.format = mqtt.format
            self.keyExtractor = RecordKeyExtractor(mqtt.key)
            self.keyBuffer.reserveCapacity(512)
            self.wakeConnection = wakeConnection
        }
    }

    /// What the writer reports to the service layer (which logs).
    enum Event {
        case writeFailed(String)
        case writeRecovered
        /// Stopped with this many messages unwritten (the log kept failing, or stayed full).
        case abandoned(UInt64)
        /// The log reached `log.max_bytes` with records Rivven has not acknowledged: intake stops.
        case logFull(Int64)
        /// Rivven acknowledged enough for retention to make room: intake resumes.
        case logFullCleared
    }

    let signal: WriterSignal
    private let sources: [Source]
    private let log: LocalLog
    private let fsync: FsyncPolicy
    private let counters: IngestCounters
    private let onEvent: (Event) -> Void
    private let stopRequested = Atomic<Bool>(false)
    /// Monotonic deadline after a stop request past which a write that keeps failing is abandoned.
    private let stopDeadline = Atomic<Int64>(.max)
    /// How long a stop waits for a failing log to recover before abandoning what is unwritten.
    static let stopGraceNanoseconds: Int64 = 8_000_000_000
    private var thread: DriverThread?
    /// Published for readiness: the last write or sync of the log failed and has not succeeded since.
    let isFailing = Atomic<Bool>(false)
    /// Published for readiness: the log is at `log.max_bytes` with records Rivven has not acknowledged.
    let isFull = Atomic<Bool>(false)
    /// Published for the metrics: bytes in the log's segments (`LocalLog.totalBytes`, owned by this thread).
    let logBytes = Atomic<Int64>(0)

    private var accumulator: BatchAccumulator
    private var batch: [UInt8] = []
    private var batchFirstOffset: UInt64
    private var batchReceivedAtSum: Int64 = 0
    /// Receive time (µs) of each record of the open batch, for the latency histogram; preallocated, never grows.
    private var batchReceivedAt: [Int64] = []
    private var lastSync: Int64 = 0
    /// Ring positions written but waiting for an `interval:MS` sync before they count as durable.
    private var unsyncedTails: [UInt64]
    private var unsynced = false
    /// The Rivven forwarder's side, when one reads this log.
    private let link: ForwardingLink?
    /// Sees each appended batch (`rivven-mqtt bench`); nil otherwise.
    private let observer: WrittenBatchObserver?
    /// Acknowledgement positions held until Rivven acknowledged the records (`log.fsync: never` with Rivven):
    /// (log end offset, ring tail per source), oldest first.
    private var heldForRivven: [(end: UInt64, tails: [UInt64])] = []
    private var heldHead = 0
    private var lastAcknowledged: UInt64 = 0
    private var reportedFull = false

    init(
        signal: WriterSignal,
        sources: [Source],
        log: LocalLog,
        batch: BatchConfiguration,
        fsync: FsyncPolicy,
        counters: IngestCounters,
        link: ForwardingLink? = nil,
        observer: WrittenBatchObserver? = nil,
        onEvent: @escaping (Event) -> Void
    ) {
        self.link = link
        self.observer = observer
        self.lastAcknowledged = link?.acknowledged.load(ordering: .relaxed) ?? 0
        self.signal = signal
        self.sources = sources
        self.log = log
        self.fsync = fsync
        self.counters = counters
        self.onEvent = onEvent
        self.accumulator = BatchAccumulator(
            maxMessages: batch.maxMessages,
            maxBytes: batch.maxBytes,
            lingerMilliseconds: batch.lingerMs
        )
        self.batchFirstOffset = log.nextOffset
        self.unsyncedTails = sources.map { _ in 0 }
        // One batch plus the largest record that may overshoot it.
        self.batch.reserveCapacity(batch.maxBytes + 2 * 1024 * 1024)
        // A batch closes at max_messages records, so this never reallocates.
        self.batchReceivedAt.reserveCapacity(batch.maxMessages)
        self.logBytes.store(log.totalBytes, ordering: .relaxed)
    }

    /// Starts the writer thread.
    func start() {
        thread = DriverThread(name: "log-writer") { [self] in self.run() }
    }

    /// Asks the writer to write what is queued and stop. Call after the producers stopped. If the log cannot be
    /// written (disk full) the writer gives up after `stopGraceNanoseconds`: the messages it could not write are
    /// counted and reported; their acknowledgements were never sent, so the broker keeps QoS ≥ 1 messages of a
    /// persistent session for the next start.
    func stop() {
        stopDeadline.store(Self.monotonicNow() + Self.stopGraceNanoseconds, ordering: .relaxed)
        stopRequested.store(true, ordering: .releasing)
        signal.wake()
    }

    /// Waits for the writer thread to end.
    func join() {
        thread?.join()
        thread = nil
    }

    private static func monotonicNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    // MARK: - Writer thread

    private func run() {
        var next = 0
        while true {
            let stopping = stopRequested.load(ordering: .acquiring)
            if link != nil { takeAcknowledgements() }
            if log.isFull {
                if !reportedFull {
                    reportedFull = true
                    isFull.store(true, ordering: .relaxed)
                    onEvent(.logFull(log.totalBytes))
                }
                if stopping {
                    // Rivven is not taking records and the log may not grow: what is queued cannot be written.
                    if !accumulator.isEmpty && !flush(now: Self.monotonicNow()) {
                        abandonUnwritten()
                        return
                    }
                    abandonUnwritten()
                    return
                }
            } else if reportedFull {
                reportedFull = false
                isFull.store(false, ordering: .relaxed)
                onEvent(.logFullCleared)
            }
            // Fill the batch round-robin across connections, one message at a time per turn so none starves.
            var took = false
            var emptyPasses = 0
            // One clock read per pass, not per message: the accumulator only needs when its batch opened.
            let passStarted = Self.monotonicNow()
            while !accumulator.isFull && emptyPasses < sources.count && !log.isFull {
                if take(from: sources[next], now: passStarted) {
                    took = true; emptyPasses = 0
                } else {
                    emptyPasses += 1
                }
                next = next + 1 == sources.count ? 0 : next + 1
            }
            let now = Self.monotonicNow()
            let sourcesEmpty = !accumulator.isFull
            let producerWaits = stopping || sources.contains { $0.ring.producerWaits.load(ordering: .acquiring) }
            if accumulator.shouldClose(now: now, sourceIsEmpty: sourcesEmpty || stopping, producerWaits: producerWaits)
                || (stopping && !accumulator.isEmpty)
            {
                if !flush(now: now) {
                    abandonUnwritten()
                    return
                }
                continue
            }
            if unsynced, case .interval(let ms) = fsync, now - lastSync >= Int64(ms) * 1_000_000 {
                syncNow()
            }
            if took { continue }
            if stopping && accumulator.isEmpty {
                if unsynced { syncNow() }
                return
            }
            idle(now: now)
        }
    }

    /// Encodes one message of `source` into the batch. Returns false when its ring is empty.
    private func take(from source: Source, now: Int64) -> Bool {
        let start = batch.count
        var mark: RecordMark?
        var qos: UInt8 = 0
        var receivedAt: Int64 = 0
        let offset = batchFirstOffset + UInt64(accumulator.count)
        let result = source.ring.consume { message in
            qos = message.qos
            receivedAt = message.receivedAt
            // The key is computed here, where the raw payload (`json:FIELD`) and the MQTT 5 properties
            // (`property:NAME`) are at hand, and stored in the log.
            source.keyBuffer.removeAll(keepingCapacity: true)
            let hasKey = source.keyExtractor.appendKey(
                topic: message.topic,
                payload: message.payload,
                properties: message.properties,
                into: &source.keyBuffer
            )
            let record = source.keyBuffer.withUnsafeBytes { key in
                LogRecordEncoder.begin(
                    offset: offset,
                    receiveTimeMicros: message.receivedAt / 1000,
                    topic: message.topic,
                    qos: message.qos,
                    retain: message.retain,
                    key: hasKey ? key : nil,
                    valueIsEnvelope: source.format == .envelope,
                    into: &batch
                )
            }
            switch source.format {
            case .envelope:
                source.encoder.encode(
                    topic: message.topic,
                    payload: message.payload,
                    properties: message.properties,
                    qos: message.qos,
                    retain: message.retain,
                    pkid: Int(message.packetID),
                    receivedAt: WallClockTime(nanosecondsSinceEpoch: message.receivedAt),
                    encodedAt: WallClockTime.now(),
                    into: &batch
                )
            case .raw:
                batch.append(contentsOf: message.payload)
            }
            LogRecordEncoder.finish(record, into: &batch)
            mark = record
            return true
        } rollback: {
            // The producer discarded this QoS 0 message (drop_oldest) while it was being encoded.
            if let record = mark { LogRecordEncoder.rollback(record, in: &batch) }
            mark = nil
        }
        guard result == true else { return false }
        accumulator.add(size: batch.count - start, qos: qos, now: now)
        batchReceivedAtSum &+= receivedAt / 1000
        batchReceivedAt.append(receivedAt / 1000)
        source.writtenTail = source.ring.consumedCount
        return true
    }

    /// Writes the batch; returns false only when a stop's grace period ran out while the log kept failing.
    private func flush(now: Int64) -> Bool {
        let sync: Bool
        switch fsync {
        case .batch: sync = true
        case .never: sync = false
        case .interval(let ms): sync = now - lastSync >= Int64(ms) * 1_000_000
        }
        var failures = 0
        while true {
            // The error is returned as a value: a typed-throws closure through `withUnsafeBytes` crashes the 6.3
            // compiler's IR generation.
            let failure: LogError? = batch.withUnsafeBytes { bytes in
                do throws(LogError) {
                    try log.append(
                        batch: bytes,
                        firstOffset: batchFirstOffset,
                        recordCount: accumulator.count,
                        sync: sync
                    )
                    return nil
                } catch {
                    return error
                }
            }
            if let error = failure {
                // Never drop: report once, wait, retry the same batch at the same offset (e.g. until disk space
                // returns). The rings fill meanwhile and push back on the brokers.
                IngestCounters.bump(counters.writeErrors)
                if failures == 0 {
                    isFailing.store(true, ordering: .relaxed)
                    onEvent(.writeFailed("\(error)"))
                }
                failures += 1
                if stopRequested.load(ordering: .acquiring)
                    && Self.monotonicNow() > stopDeadline.load(ordering: .relaxed)
                {
                    return false
                }
                signal.sleep(timeoutMilliseconds: Int32(min(1000, 10 << min(failures, 7))))
                continue
            }
            if failures > 0 || isFailing.load(ordering: .relaxed) {
                isFailing.store(false, ordering: .relaxed)
                onEvent(.writeRecovered)
            }
            break
        }
        if let observer {
            batch.withUnsafeBytes { observer(WrittenBatch(bytes: $0, recordCount: accumulator.count, synced: sync)) }
        }
        let count = UInt64(accumulator.count)
        let durableNow = Self.wallMicros()
        counters.recordBatch(size: count)
        IngestCounters.bump(counters.recordsWritten, by: count)
        IngestCounters.bump(
            counters.receiveLatencyMicros,
            by: UInt64(max(0, Int64(count) * durableNow - batchReceivedAtSum))
        )
        for receivedAt in batchReceivedAt {
            counters.endToEndLatency.record(microseconds: UInt64(max(0, durableNow - receivedAt)))
        }
        batchReceivedAt.removeAll(keepingCapacity: true)
        logBytes.store(log.totalBytes, ordering: .relaxed)
        batchFirstOffset += count
        batch.removeAll(keepingCapacity: true)
        accumulator.reset()
        batchReceivedAtSum = 0
        if sync || fsync == .never {
            if sync { lastSync = now }
            publishDurable()
        } else {
            unsynced = true
        }
        return true
    }

    /// Stop with an unwritable log: count what cannot be written (the batch and whatever is still queued).
    private func abandonUnwritten() {
        var lost = UInt64(accumulator.count)
        accumulator.reset()
        batchReceivedAt.removeAll(keepingCapacity: true)
        var qos0: UInt64 = 0
        for source in sources {
            while source.ring.consume(
                { message in
                    if message.qos == 0 { qos0 += 1 }
                    return true
                },
                rollback: {}
            ) == true {
                lost += 1
            }
        }
        IngestCounters.bump(counters.droppedUnwritable, by: lost)
        onEvent(.abandoned(lost))
    }

    private func syncNow() {
        do {
            try log.sync()
            lastSync = Self.monotonicNow()
            isFailing.store(false, ordering: .relaxed)
            publishDurable()
        } catch {
            IngestCounters.bump(counters.writeErrors)
            isFailing.store(true, ordering: .relaxed)
            onEvent(.writeFailed("\(error)"))
        }
    }

    /// Everything written so far is durable: let each MQTT thread release its acknowledgements (with `log.fsync:
    /// never` and Rivven, only once Rivven acknowledged the records) and the forwarder read the records.
    private func publishDurable() {
        unsynced = false
        if let link {
            link.publishDurable(log.nextOffset)
            if link.acknowledgementsWaitForRivven {
                heldForRivven.append((log.nextOffset, sources.map(\.writtenTail)))
                takeAcknowledgements()
                return
            }
        }
        release(sources.map(\.writtenTail))
    }

    private func release(_ tails: [UInt64]) {
        for (source, tail) in zip(sources, tails) where source.ring.durable.load(ordering: .relaxed) < tail {
            source.ring.durable.store(tail, ordering: .releasing)
            source.wakeConnection()
        }
    }

    /// Takes what Rivven acknowledged: retention may delete forwarded segments; held acknowledgements go out.
    private func takeAcknowledgements() {
        guard let link else { return }
        let acknowledged = link.acknowledged.load(ordering: .acquiring)
        guard acknowledged != lastAcknowledged else { return }
        lastAcknowledged = acknowledged
        log.noteForwarded(acknowledged)
        logBytes.store(log.totalBytes, ordering: .relaxed)
        var released: [UInt64]?
        while heldHead < heldForRivven.count && heldForRivven[heldHead].end <= acknowledged {
            released = heldForRivven[heldHead].tails
            heldHead += 1
        }
        if heldHead == heldForRivven.count {
            heldForRivven.removeAll(keepingCapacity: true)
            heldHead = 0
        }
        if let released { release(released) }
    }

    private func idle(now: Int64) {
        // An empty batch wants the next message at once; a lingering QoS 0 batch only an urgent one.
        signal.prepareToSleep(accumulator.isEmpty ? .anyMessage : .urgentOnly)
        if sources.contains(where: { $0.ring.availableCount > 0 }) || stopRequested.load(ordering: .acquiring) {
            signal.cancelSleep()
            return
        }
        var timeout: Int64 = 100_000_000  // 100 ms when idle (also the longest a missed forwarder wake-up waits)
        if !accumulator.isEmpty { timeout = min(timeout, accumulator.lingerRemaining(now: now)) }
        if unsynced, case .interval(let ms) = fsync {
            timeout = min(timeout, max(0, lastSync + Int64(ms) * 1_000_000 - now))
        }
        signal.sleep(timeoutMilliseconds: Int32((timeout + 999_999) / 1_000_000))
    }

    private static func wallMicros() -> Int64 {
        WallClockTime.now().nanosecondsSinceEpoch / 1000
    }
}
