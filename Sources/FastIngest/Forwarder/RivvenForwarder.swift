import Glibc
import Synchronization

/// The Rivven forwarder of one source: a thread that reads the local log from the forwarded checkpoint, maps each
/// record (``RecordMapper``: topic routing, dead letters, size limits), batches records per (topic, partition) and
/// sends them pipelined as `IdempotentPublishBatch` (`broker.idempotent: true`) or `PublishBatch`, advancing the
/// checkpoint only over records Rivven acknowledged (SPEC §4, WIRE.md §7, §11).
///
/// Delivery rules:
/// - Records are read only below the writer's durable end (``ForwardingLink/durableEnd``), in offset order; batches
///   are sent in creation order and, per partition, acknowledged in that order.
/// - A batch is resent until acknowledged: after a lost connection (reconnect with backoff and jitter, trying the
///   bootstrap servers in turn), an `Error` reply or `Throttled`. A resent idempotent batch keeps its producer id,
///   epoch, base sequence and records, so a batch stored before its reply was lost is answered `duplicate: true`
///   and never stored twice. Sequences are counted per partition number across topics (WIRE.md §11).
/// - `UNKNOWN_PRODUCER_ID` / `PRODUCER_FENCED` (a broker restart, another producer): a new producer id, sequences
///   restart at 0 and unacknowledged batches are re-encoded; what a lost reply had stored may then be duplicated.
/// - The checkpoint file is written at most every 100 ms and at stop; after a crash, records acknowledged after the
///   last checkpoint are forwarded again (a new producer id: they may be stored twice).
final class RivvenForwarder: @unchecked Sendable {
    // @unchecked: all mutable state belongs to the forwarder thread; other threads use only the atomics, `link`
    // and `stop()`.

    /// What the forwarder reports to the service layer, which logs.
    enum Event {
        case connected(server: String, transport: String, producer: String)
        case connectionFailed(String, retryInMilliseconds: Int, attempt: Int)
        case connectionLost(String, unanswered: Int)
        case topicReady(String, partitions: UInt32, created: Bool, assumed: Bool)
        case batchRefused(String, topic: String, partition: UInt32, retryInMilliseconds: Int)
        case producerReset(String, resent: Int)
        case recordDropped(offset: UInt64, reason: String)
        case deadLettered(offset: UInt64, reason: String)
        case checkpointFailed(String)
        case stopped(acknowledged: UInt64, durableEnd: UInt64)
    }

    /// Tunables (tests shorten them).
    struct Tuning {
        var maxUnacknowledgedBatches = 64
        var maxUnacknowledgedBytes = 16 << 20
        /// Acknowledged batches kept for reuse (their frame buffers).
        var spareBatches = 8
        var checkpointIntervalNanoseconds: Int64 = 100_000_000
        var pingIntervalNanoseconds: Int64 = 30_000_000_000
        var requestTimeoutMilliseconds: Int32 = 10_000
        var stopGraceNanoseconds: Int64 = 5_000_000_000
        var reconnect = Backoff(initialMilliseconds: 100, maximumMilliseconds: 10_000, multiplier: 2)
        var useIOURing = true
    }

    let link: ForwardingLink
    /// Whether a connection is up and its session set up (for readiness).
    let isConnected = Atomic<Bool>(false)
    /// When the oldest record not yet acknowledged was received (µs since the epoch), 0 when none is pending.
    let oldestPendingReceiveMicros = Atomic<Int64>(0)

    private let rivven: RivvenConfiguration
    private let source: SourceConfiguration
    private let mapper: RecordMapper
    private let batchLimits: BatchConfiguration
    private let directory: String
    private let counters: IngestCounters
    private let onEvent: (Event) -> Void
    private let tuning: Tuning
    private let stopRequested = Atomic<Bool>(false)
    private var thread: DriverThread?

    // Forwarder-thread state.
    private var reader: LogReader?
    private var connection: ForwarderConnection?
    private var serverIndex = 0
    private var failedAttempts = 0
    private var random = SystemRandomNumberGenerator()
    private var producer: RivvenIdempotence?
    private var sequences: [UInt32: Int32] = [:]
    private var topics: [TopicInfo] = []
    private var lastTopic = -1
    private var mappedTopic: [UInt8] = []
    private var mappedKey: [UInt8] = []
    private var mappedValue: [UInt8] = []
    /// A record read whose topic needs CreateTopic/GetMetadata before it can be batched.
    private var stash: LogRecord?

    private var openBatches: [ForwardBatch] = []
    private var unacknowledged: [ForwardBatch] = []
    private var unacknowledgedHead = 0
    private var unacknowledgedBytes = 0
    private var spare: [ForwardBatch] = []
    private var groups: [FlushGroup] = []
    private var groupsHead = 0
    private var nextGroupID: UInt64 = 0
    private var groupEnd: UInt64 = 0
    private var groupFirstReceive: Int64 = 0
    private var groupHasRecords = false

    private var acknowledgedEnd: UInt64
    private var persistedEnd: UInt64
    private var lastPersistAt: Int64 = 0
    private var checkpointFD: Int32 = -1
    /// Sending pauses until this monotonic time (after an error reply or Throttled).
    private var holdUntil: Int64 = 0
    /// Set by an error reply: resend once every reply of the connection is in.
    private var retryPending = false
    private var refusalAttempts = 0
    private var needsNewProducer: String?
    /// Whether the current connection got a batch acknowledged (a connection lost before that counts as a failed
    /// attempt for the backoff, so a broker that accepts and then drops every request is not hammered).
    private var progressOnConnection = false

    private struct TopicInfo {
        var bytes: [UInt8]
        var name: String
        var partitions: UInt32
        var sticky: UInt32
    }

    private struct FlushGroup {
        var end: UInt64
        var remaining: Int
        var firstReceiveMicros: Int64
    }

    init(
        link: ForwardingLink,
        rivven: RivvenConfiguration,
        source: SourceConfiguration,
        mapper: RecordMapper,
        batch: BatchConfiguration,
        directory: String,
        startOffset: UInt64,
        counters: IngestCounters,
        tuning: Tuning = Tuning(),
        onEvent: @escaping (Event) -> Void
    ) {
        self.link = link
        self.rivven = rivven
        self.source = source
        self.mapper = mapper
        self.batchLimits = batch
        self.directory = directory
        self.counters = counters
        self.tuning = tuning
        self.onEvent = onEvent
        self.acknowledgedEnd = startOffset
        self.persistedEnd = startOffset
        self.groupEnd = startOffset
        mappedTopic.reserveCapacity(256)
        mappedKey.reserveCapacity(256)
    }

    deinit {
        if checkpointFD >= 0 { close(checkpointFD) }
    }

    func start() {
        thread = DriverThread(name: "rivven-fwd") { [self] in self.run() }
    }

    /// Asks the forwarder to forward what is durable (within a grace period), write the checkpoint and stop. Call
    /// after the log writer stopped.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        link.wakeForwarder()
    }

    func join() {
        thread?.join()
        thread = nil
    }

    // MARK: - Thread

    private func run() {
        var stopDeadline = Int64.max
        do throws(LogError) {
            reader = try LogReader(directory: directory, from: acknowledgedEnd)
            checkpointFD = try LogFiles.openDirectory(directory)
        } catch {
            onEvent(.checkpointFailed("cannot open the local log for forwarding: \(error)"))
            return
        }
        while true {
            let now = ForwarderConnection.monotonicNow()
            if stopRequested.load(ordering: .acquiring) && stopDeadline == .max {
                stopDeadline = now + tuning.stopGraceNanoseconds
            }
            let durable = link.durableEnd.load(ordering: .acquiring)
            if stopDeadline != .max {
                // Forward what is durable while connected; without a connection the records wait in the log for the
                // next start (nothing is lost by stopping now).
                let drained = acknowledgedEnd >= durable && stash == nil
                if drained || now >= stopDeadline || connection == nil { break }
            }
            if connection == nil {
                if !connect(now: now, stopping: stopDeadline != .max) { continue }
            }
            step(now: now, durable: durable)
            persistCheckpointIfDue(now: ForwarderConnection.monotonicNow(), force: false)
        }
        persistCheckpointIfDue(now: ForwarderConnection.monotonicNow(), force: true)
        connection = nil
        isConnected.store(false, ordering: .relaxed)
        onEvent(.stopped(acknowledged: acknowledgedEnd, durableEnd: link.durableEnd.load(ordering: .acquiring)))
    }

    /// One turn with a live connection: settle retries, read and batch, send, wait for I/O, take replies.
    private func step(now: Int64, durable: UInt64) {
        guard let connection else { return }
        do throws(RivvenStreamError) {
            if retryPending && connection.awaitingCount == 0 && now >= holdUntil {
                try settleRetry(connection, now: now)
            }
            if !retryPending {
                if let stashed = stash {
                    try prepareTopic(stashed, connection)
                }
                if stash == nil { fill(durable: durable, now: now) }
                sendUnsent(connection, now: now)
            }
            try connection.writePending()
            try wait(connection, durable: durable, now: now)
            try connection.readReplies { batch, response in handle(response, for: batch, now: now) }
            if connection.awaitingCount == 0 && !retryPending
                && now - connection.lastRequestAt >= tuning.pingIntervalNanoseconds
            {
                let reply = try connection.request(.ping, timeoutMilliseconds: tuning.requestTimeoutMilliseconds)
                guard case .pong = reply else {
                    throw RivvenStreamError("\(connection.server): Ping answered \(RivvenClient.describe(reply))")
                }
            }
        } catch {
            lose(connection, error.message)
        }
    }

    /// Polls the socket (and the writer's wake-up) until something can be done.
    private func wait(_ connection: ForwarderConnection, durable: UInt64, now: Int64) throws(RivvenStreamError) {
        if connection.stream.hasBufferedInput { return }
        // A record waits for its topic to be set up and nothing is in flight: set it up now.
        if stash != nil && connection.awaitingCount == 0 && !connection.hasPendingWrites { return }
        let canReadMore =
            stash == nil && !retryPending && reader.map { $0.nextOffset < durable } ?? false
            && hasWindow
        if canReadMore && !connection.hasPendingWrites { return }
        var timeout: Int64 = 1_000_000_000
        if retryPending && connection.awaitingCount == 0 { timeout = max(0, holdUntil - now) }
        if persistedEnd < acknowledgedEnd {
            timeout = min(timeout, max(0, lastPersistAt + tuning.checkpointIntervalNanoseconds - now))
        }
        timeout = min(timeout, max(0, connection.lastRequestAt + tuning.pingIntervalNanoseconds - now))
        var fds = [
            pollfd(
                fd: connection.stream.fileDescriptor,
                events: connection.stream.pollEvents(
                    wantRead: true,
                    wantWrite: connection.hasPendingWrites
                ),
                revents: 0
            ),
            pollfd(fd: link.forwarderWakeFD, events: Int16(POLLIN), revents: 0),
        ]
        link.prepareForwarderSleep()
        let fresh = link.durableEnd.load(ordering: .acquiring)
        if (fresh > durable && !retryPending && stash == nil && hasWindow) || stopRequested.load(ordering: .acquiring) {
            // Something new arrived, or a stop: do not sleep longer than it takes to look at the socket.
            timeout = 0
        }
        let ready = poll(&fds, 2, Int32(clamping: (timeout + 999_999) / 1_000_000))
        link.endSleep()
        if ready > 0 && fds[0].revents & Int16(POLLERR | POLLNVAL) != 0 && fds[0].revents & Int16(POLLIN) == 0 {
            throw RivvenStreamError("\(connection.server): the connection failed")
        }
    }

    private var hasWindow: Bool {
        unacknowledged.count - unacknowledgedHead < tuning.maxUnacknowledgedBatches
            && unacknowledgedBytes < tuning.maxUnacknowledgedBytes
    }

    // MARK: - Connecting

    /// Connects to the next server and sets up the session; false (after sleeping the backoff) when it failed.
    private func connect(now: Int64, stopping: Bool) -> Bool {
        let servers = rivven.bootstrapServers
        let server = servers[serverIndex % servers.count]
        do throws(RivvenStreamError) {
            let stream = try RivvenStreams.connect(
                server,
                tls: rivven.tls,
                timeoutMilliseconds: tuning.requestTimeoutMilliseconds,
                useIOURing: tuning.useIOURing
            )
            let fresh = ForwarderConnection(stream: stream, now: now)
            try setUpSession(fresh)
            connection = fresh
            progressOnConnection = false
            isConnected.store(true, ordering: .relaxed)
            let producerText = producer.map { "id \($0.producerID) epoch \($0.producerEpoch)" } ?? "not idempotent"
            onEvent(.connected(server: server, transport: stream.kind, producer: producerText))
            // Everything not acknowledged goes again, in order, with its sequence numbers.
            for index in unacknowledgedHead..<unacknowledged.count where unacknowledged[index].state == .inFlight {
                unacknowledged[index].state = .unsent
            }
            retryPending = false
            return true
        } catch {
            IngestCounters.bump(counters.rivvenConnectFailures)
            serverIndex += 1
            let attempt = failedAttempts
            failedAttempts += 1
            // Back off once every server was tried.
            var delay = 0
            if serverIndex % servers.count == 0 {
                let drawn = tuning.reconnect.delay(forAttempt: attempt / servers.count, using: &random)
                delay = Int(drawn.wholeMilliseconds)
            }
            onEvent(.connectionFailed(error.message, retryInMilliseconds: delay, attempt: failedAttempts))
            if stopping { return false }
            sleepInterruptibly(milliseconds: delay)
            return false
        }
    }

    /// Sleeps `milliseconds` (a backoff); only a stop request cuts it short. The forwarder does not announce this
    /// sleep to the writer, so new records do not wake it (they would turn the backoff into a retry per batch).
    private func sleepInterruptibly(milliseconds: Int) {
        guard milliseconds > 0 else { return }
        let deadline = ForwarderConnection.monotonicNow() + Int64(milliseconds) * 1_000_000
        while true {
            // Empty the pipe first (what is in it is a stale wake-up), then look at the stop flag: stop() sets the
            // flag before it writes to the pipe, so a stop is never missed.
            link.endSleep()
            if stopRequested.load(ordering: .acquiring) { return }
            let remaining = (deadline - ForwarderConnection.monotonicNow()) / 1_000_000
            if remaining <= 0 { return }
            var fd = pollfd(fd: link.forwarderWakeFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, Int32(clamping: remaining))
        }
    }

    /// Handshake, login, producer id, the configured topics.
    private func setUpSession(_ connection: ForwarderConnection) throws(RivvenStreamError) {
        let timeout = tuning.requestTimeoutMilliseconds
        let hello = try connection.request(
            .handshake(protocolVersion: RivvenLimits.protocolVersion, clientID: source.mqtt.clientID(forConnection: 0)),
            timeoutMilliseconds: timeout
        )
        if case .handshakeResult(let version, let compatible, let message) = hello, !compatible {
            throw RivvenStreamError(
                "\(connection.server): incompatible protocol (server version \(version), ours 2): \(message)"
            )
        }
        if let username = rivven.username {
            let failure = RivvenSCRAM.authenticate(
                username: username,
                password: rivven.password?.value ?? "",
                server: connection.server
            ) { request throws(RivvenStreamError) in
                try connection.request(request, timeoutMilliseconds: timeout)
            }
            if let failure { throw RivvenStreamError(failure) }
        }
        if rivven.idempotent && (producer == nil || needsNewProducer != nil) {
            try initProducer(connection, reason: needsNewProducer)
        }
        if topics.isEmpty {
            try ensureTopic(Array(source.topic.utf8), connection)
            if let deadLetter = source.mqtt.deadLetterTopic { try ensureTopic(Array(deadLetter.utf8), connection) }
        }
    }

    /// `InitProducerId{None}`: a new producer id; sequences restart at 0 and every unacknowledged batch is
    /// re-encoded with them.
    private func initProducer(_ connection: ForwarderConnection, reason: String?) throws(RivvenStreamError) {
        let reply = try connection.request(
            .initProducerID(producerID: nil),
            timeoutMilliseconds: tuning.requestTimeoutMilliseconds
        )
        guard case .producerIDInitialized(let id, let epoch) = reply else {
            throw RivvenStreamError(
                "\(connection.server): InitProducerId answered \(RivvenClient.describe(reply))"
            )
        }
        let hadProducer = producer != nil
        producer = RivvenIdempotence(producerID: id, producerEpoch: epoch, baseSequence: 0)
        sequences.removeAll()
        var resent = 0
        for index in unacknowledgedHead..<unacknowledged.count {
            let batch = unacknowledged[index]
            guard batch.state != .acknowledged else { continue }
            batch.reencode(idempotence: nextIdempotence(for: batch))
            batch.state = .unsent
            resent += 1
        }
        if hadProducer {
            IngestCounters.bump(counters.rivvenProducerResets)
            onEvent(.producerReset(reason ?? "new session", resent: resent))
        }
        needsNewProducer = nil
    }

    private func nextIdempotence(for batch: ForwardBatch) -> RivvenIdempotence {
        let base = sequences[batch.partition] ?? 0
        sequences[batch.partition] = base &+ Int32(truncatingIfNeeded: batch.recordCount)
        var fields = producer!
        fields.baseSequence = base
        return fields
    }

    /// Makes sure `name` exists (CreateTopic with `broker.partitions`, "already exists" is fine) and learns its
    /// partition count.
    @discardableResult
    private func ensureTopic(_ name: [UInt8], _ connection: ForwarderConnection) throws(RivvenStreamError) -> Int {
        if let known = topics.firstIndex(where: { $0.bytes == name }) { return known }
        let text = String(decoding: name, as: UTF8.self)
        let timeout = tuning.requestTimeoutMilliseconds
        var partitions: UInt32?
        var created = false
        if rivven.createTopic {
            let reply = try connection.request(
                .createTopic(name: text, partitions: UInt32(rivven.partitions)),
                timeoutMilliseconds: timeout
            )
            switch reply {
            case .topicCreated(_, let count):
                partitions = count
                created = true
            case .error(let message) where message.contains("exists"):
                break
            default:
                throw RivvenStreamError("\(connection.server): CreateTopic \(text): \(RivvenClient.describe(reply))")
            }
        }
        var assumed = false
        if partitions == nil {
            let reply = try connection.request(.getMetadata(topic: text), timeoutMilliseconds: timeout)
            switch reply {
            case .metadata(_, let count) where count > 0:
                partitions = count
            case .error(let message) where message.hasPrefix("Topic not found"):
                // Publishing creates it with the broker's default partition count; partition 0 exists whatever that
                // is (the official producer assumes 1 partition the same way).
                partitions = 1
                assumed = true
            default:
                throw RivvenStreamError("\(connection.server): GetMetadata \(text): \(RivvenClient.describe(reply))")
            }
        }
        topics.append(TopicInfo(bytes: name, name: text, partitions: partitions!, sticky: 0))
        onEvent(.topicReady(text, partitions: partitions!, created: created, assumed: assumed))
        return topics.count - 1
    }

    /// A record whose topic was new: set the topic up once nothing is in flight, then batch the record.
    private func prepareTopic(_ record: LogRecord, _ connection: ForwarderConnection) throws(RivvenStreamError) {
        guard connection.awaitingCount == 0 && !connection.hasPendingWrites && openBatches.isEmpty else { return }
        try ensureTopic(mappedTopic, connection)
        stash = nil
        let now = WallClockTime.now()
        record.topic.withUnsafeBytes { topic in
            record.value.withUnsafeBytes { value in
                func take(_ key: UnsafeRawBufferPointer?) {
                    let view = LogRecordView(
                        offset: record.offset,
                        receiveTimeMicros: record.receiveTimeMicros,
                        topic: topic,
                        qos: record.qos,
                        retain: record.retain,
                        key: key,
                        value: value,
                        valueIsEnvelope: record.valueIsEnvelope
                    )
                    _ = add(view, now: now)
                }
                if let key = record.key {
                    key.withUnsafeBytes { take($0) }
                } else {
                    take(nil)
                }
            }
        }
    }

    private func lose(_ connection: ForwarderConnection, _ reason: String) {
        let unanswered = connection.takeUnanswered()
        for batch in unanswered where batch.state == .inFlight { batch.state = .unsent }
        self.connection = nil
        isConnected.store(false, ordering: .relaxed)
        IngestCounters.bump(counters.rivvenDisconnects)
        serverIndex += 1
        retryPending = false
        holdUntil = 0
        var delay = 0
        if !progressOnConnection {
            let drawn = tuning.reconnect.delay(forAttempt: failedAttempts, using: &random)
            delay = Int(drawn.wholeMilliseconds)
            failedAttempts += 1
        }
        onEvent(.connectionLost(reason, unanswered: unanswered.count))
        sleepInterruptibly(milliseconds: delay)
    }

    // MARK: - Batching

    /// Reads durable records while the window has room, then closes the group so it can be sent.
    private func fill(durable: UInt64, now: Int64) {
        guard let reader else { return }
        let wallNow = WallClockTime.now()
        while hasWindow && stash == nil {
            let result: AddResult?
            do throws(LogError) {
                result = try reader.readNext(below: durable) { view in add(view, now: wallNow) }
            } catch {
                onEvent(.checkpointFailed("cannot read the local log: \(error)"))
                sleepInterruptibly(milliseconds: 1000)
                return
            }
            guard let result else { break }
            if result == .groupFull {
                // Send what is complete before encoding more, so a backlog streams out instead of waiting for a
                // whole window to be encoded.
                closeGroup()
                break
            }
        }
        closeGroup()
    }

    private enum AddResult { case added, groupFull, needsTopic }

    /// Maps and batches one record.
    private func add(_ view: LogRecordView, now: WallClockTime) -> AddResult {
        let decision = mapper.map(
            view.mapperInput,
            now: now,
            topic: &mappedTopic,
            key: &mappedKey,
            value: &mappedValue
        )
        let isDeadLetter: Bool
        switch decision {
        case .drop(let problem):
            IngestCounters.bump(counters.rivvenDropped)
            onEvent(.recordDropped(offset: view.offset, reason: problem.reason))
            consumed(view)
            return .added
        case .deadLetter(let problem):
            onEvent(.deadLettered(offset: view.offset, reason: problem.reason))
            isDeadLetter = true
        case .publish:
            isDeadLetter = false
        }
        guard let topicIndex = topicIndex(for: mappedTopic) else {
            stash = LogRecord(view)
            return .needsTopic
        }
        var hasKey = false
        if case .publish(let keyed) = decision { hasKey = keyed }
        let keyLength: Int? = hasKey ? mappedKey.count : nil
        let valueLength = isDeadLetter ? mappedValue.count : view.value.count
        let recordLength = RivvenBatchEncoder.encodedRecordLength(keyLength: keyLength, valueLength: valueLength)
        let partition: UInt32
        if hasKey {
            partition = mappedKey.withUnsafeBytes {
                RivvenPartitioner.partition(forKey: $0, partitionCount: topics[topicIndex].partitions)
            }
        } else {
            partition = topics[topicIndex].sticky
        }
        var batch = openBatch(topic: topicIndex, partition: partition)
        if let existing = batch,
            existing.recordCount >= batchLimits.maxMessages
                || existing.recordBytes + recordLength > batchLimits.maxBytes
                || existing.frameLength(adding: recordLength) > RivvenLimits.maxRequestFrameLength
        {
            // Full: send this group first; the record starts the next one.
            closeGroup()
            batch = nil
        }
        if batch == nil {
            let fresh = spare.popLast() ?? ForwardBatch()
            fresh.begin(
                topic: topics[topicIndex].name,
                topicBytes: topics[topicIndex].bytes,
                partition: partition,
                idempotent: rivven.idempotent,
                expectedRecords: batchLimits.maxMessages
            )
            if fresh.frameLength(adding: recordLength) > RivvenLimits.maxRequestFrameLength {
                spare.append(fresh)
                IngestCounters.bump(counters.rivvenDropped)
                onEvent(
                    .recordDropped(
                        offset: view.offset,
                        reason: "record of \(recordLength) bytes does not fit Rivven's request limit of "
                            + "\(RivvenLimits.maxRequestFrameLength) bytes"
                    )
                )
                consumed(view)
                return .added
            }
            fresh.group = nextGroupID
            openBatches.append(fresh)
            batch = fresh
        }
        let target = batch!
        if isDeadLetter {
            mappedValue.withUnsafeBytes { target.append(key: nil, value: $0) }
            target.deadLetterCount += 1
        } else if hasKey {
            mappedKey.withUnsafeBytes { target.append(key: $0, value: view.value) }
        } else {
            target.append(key: nil, value: view.value)
        }
        consumed(view)
        let full =
            target.recordCount >= batchLimits.maxMessages || target.recordBytes >= batchLimits.maxBytes
        return full ? .groupFull : .added
    }

    private func consumed(_ view: LogRecordView) {
        if !groupHasRecords {
            groupHasRecords = true
            groupFirstReceive = view.receiveTimeMicros
        }
        groupEnd = view.offset + 1
    }

    private func topicIndex(for name: [UInt8]) -> Int? {
        if lastTopic >= 0 && topics[lastTopic].bytes == name { return lastTopic }
        guard let index = topics.firstIndex(where: { $0.bytes == name }) else { return nil }
        lastTopic = index
        return index
    }

    private func openBatch(topic: Int, partition: UInt32) -> ForwardBatch? {
        let name = topics[topic].bytes
        for batch in openBatches where batch.partition == partition && batch.topicBytes == name { return batch }
        return nil
    }

    /// Completes the open batches (sequence numbers are assigned now, in this order) and queues them.
    private func closeGroup() {
        guard groupHasRecords else { return }
        for batch in openBatches {
            batch.finish(idempotence: rivven.idempotent ? nextIdempotence(for: batch) : nil)
            unacknowledged.append(batch)
            unacknowledgedBytes += batch.frameLength
            if let index = topicIndex(for: batch.topicBytes), topics[index].partitions > 1 {
                topics[index].sticky = (topics[index].sticky + 1) % topics[index].partitions
            }
        }
        groups.append(FlushGroup(end: groupEnd, remaining: openBatches.count, firstReceiveMicros: groupFirstReceive))
        if groupsHead == groups.count - 1 {
            oldestPendingReceiveMicros.store(groupFirstReceive, ordering: .relaxed)
        }
        nextGroupID += 1
        openBatches.removeAll(keepingCapacity: true)
        groupHasRecords = false
        advance()
    }

    // MARK: - Sending and replies

    private func sendUnsent(_ connection: ForwarderConnection, now: Int64) {
        guard now >= holdUntil else { return }
        for index in unacknowledgedHead..<unacknowledged.count {
            let batch = unacknowledged[index]
            guard batch.state == .unsent else { continue }
            batch.state = .inFlight
            batch.attempts += 1
            if batch.attempts > 1 { IngestCounters.bump(counters.rivvenBatchesResent) }
            connection.enqueue(batch, now: now)
        }
    }

    private func handle(_ response: RivvenResponse, for batch: ForwardBatch, now: Int64) {
        guard batch.state == .inFlight else { return }
        switch response {
        case .publishedBatch(_, _, let count), .idempotentPublishedBatch(_, _, let count, false):
            acknowledge(batch, duplicate: false, count: count)
        case .idempotentPublishedBatch(_, _, let count, true):
            acknowledge(batch, duplicate: true, count: count)
        case .throttled(let milliseconds, let quota, _):
            refuse(batch, "throttled (\(quota)) for \(milliseconds) ms", now: now, minimumDelay: Int(milliseconds))
        case .error(let message):
            IngestCounters.bump(counters.rivvenErrorReplies)
            if message.hasPrefix("UNKNOWN_PRODUCER_ID") || message.hasPrefix("PRODUCER_FENCED") {
                needsNewProducer = message
            } else if message.hasPrefix("OUT_OF_ORDER_SEQUENCE") && isFirstPending(batch) {
                // The broker expects another sequence for this partition than the oldest batch we still have: its
                // state and ours disagree (it lost or kept state we did not expect). Start a new producer.
                needsNewProducer = message
            }
            refuse(batch, message, now: now, minimumDelay: 0)
        default:
            IngestCounters.bump(counters.rivvenErrorReplies)
            refuse(batch, "unexpected reply \(response.variantName)", now: now, minimumDelay: 0)
        }
    }

    /// Whether no older unacknowledged batch targets the same partition number.
    private func isFirstPending(_ batch: ForwardBatch) -> Bool {
        for index in unacknowledgedHead..<unacknowledged.count {
            let other = unacknowledged[index]
            if other === batch { return true }
            if other.state != .acknowledged && other.partition == batch.partition { return false }
        }
        return true
    }

    private func refuse(_ batch: ForwardBatch, _ reason: String, now: Int64, minimumDelay: Int) {
        batch.state = .unsent
        if !retryPending {
            let delay = max(
                minimumDelay,
                Int(tuning.reconnect.ceilingMilliseconds(forAttempt: refusalAttempts) / 2)
                    + Int.random(in: 0...max(1, tuning.reconnect.ceilingMilliseconds(forAttempt: refusalAttempts) / 2))
            )
            refusalAttempts += 1
            retryPending = true
            holdUntil = now + Int64(delay) * 1_000_000
            onEvent(.batchRefused(reason, topic: batch.topic, partition: batch.partition, retryInMilliseconds: delay))
        }
    }

    /// Every reply of the round is in: start a new producer if needed, then let the unacknowledged batches go again.
    private func settleRetry(_ connection: ForwarderConnection, now: Int64) throws(RivvenStreamError) {
        if let reason = needsNewProducer {
            try initProducer(connection, reason: reason)
        }
        retryPending = false
    }

    private func acknowledge(_ batch: ForwardBatch, duplicate: Bool, count: UInt32) {
        batch.state = .acknowledged
        refusalAttempts = 0
        if !progressOnConnection {
            progressOnConnection = true
            failedAttempts = 0
        }
        let records = UInt64(batch.recordCount)
        IngestCounters.bump(counters.rivvenRecordsForwarded, by: records)
        IngestCounters.bump(counters.rivvenBatchesForwarded)
        if duplicate { IngestCounters.bump(counters.rivvenDuplicateBatches) }
        if batch.deadLetterCount > 0 {
            IngestCounters.bump(counters.rivvenDeadLettered, by: UInt64(batch.deadLetterCount))
        }
        let groupIndex = groupsHead + Int(batch.group - (nextGroupID - UInt64(groups.count - groupsHead)))
        groups[groupIndex].remaining -= 1
        advance()
    }

    /// Moves the acknowledged end over completed groups (in order) and recycles acknowledged batches.
    private func advance() {
        var moved = false
        while groupsHead < groups.count && groups[groupsHead].remaining == 0 {
            acknowledgedEnd = groups[groupsHead].end
            groupsHead += 1
            moved = true
        }
        if groupsHead == groups.count {
            groups.removeAll(keepingCapacity: true)
            groupsHead = 0
            oldestPendingReceiveMicros.store(0, ordering: .relaxed)
        } else if moved {
            oldestPendingReceiveMicros.store(groups[groupsHead].firstReceiveMicros, ordering: .relaxed)
            if groupsHead > 1024 {
                groups.removeFirst(groupsHead)
                groupsHead = 0
            }
        }
        while unacknowledgedHead < unacknowledged.count && unacknowledged[unacknowledgedHead].state == .acknowledged {
            let done = unacknowledged[unacknowledgedHead]
            unacknowledgedBytes -= done.frameLength
            if spare.count < tuning.spareBatches { spare.append(done) }
            unacknowledgedHead += 1
        }
        if unacknowledgedHead == unacknowledged.count {
            unacknowledged.removeAll(keepingCapacity: true)
            unacknowledgedHead = 0
        } else if unacknowledgedHead > 1024 {
            unacknowledged.removeFirst(unacknowledgedHead)
            unacknowledgedHead = 0
        }
        if moved { link.publishAcknowledged(acknowledgedEnd) }
    }

    // MARK: - Checkpoint

    private func persistCheckpointIfDue(now: Int64, force: Bool) {
        guard persistedEnd < acknowledgedEnd, force || now - lastPersistAt >= tuning.checkpointIntervalNanoseconds
        else { return }
        do throws(LogError) {
            try LogFiles.writeCheckpoint(acknowledgedEnd, directory: directory, directoryFD: checkpointFD)
            persistedEnd = acknowledgedEnd
        } catch {
            onEvent(.checkpointFailed("\(error)"))
        }
        lastPersistAt = now
    }
}
