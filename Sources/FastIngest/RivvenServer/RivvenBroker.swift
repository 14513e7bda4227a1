import Glibc
import Synchronization

/// The request handling of the test server: in-memory topics, the sticky partitioner, idempotent producers, consumer
/// group offsets, authentication — everything rivvend 0.0.22 does between decoding a request and encoding its reply
/// (WIRE.md §5–§11), without any I/O. One lock guards all state, so each request is atomic.
final class RivvenBroker: Sendable {
    /// A connection's authentication state (rivvend's `ConnectionAuth`).
    enum ConnectionAuth: Sendable {
        case unauthenticated
        case scramInProgress(RivvenScramServer.Pending)
        case authenticated(sessionID: String, expiresAt: ContinuousClock.Instant)
        /// Authentication is not required.
        case anonymous
    }

    /// One partition: its next offset and, unless the server drops payloads, its records (record *i* has offset *i*).
    struct PartitionLog {
        var records: [RivvenStoredRecord] = []
        var nextOffset: UInt64 = 0
    }

    struct Storage {
        /// Partitions per topic.
        var topics: [String: [PartitionLog]] = [:]
        /// Topic names in creation order (what `ListTopics` returns).
        var topicOrder: [String] = []
        var sticky: RivvenStickyPartitioner
        var producers = RivvenProducerRegistry()
        /// Committed offsets by consumer group, topic and partition.
        var groupOffsets: [String: [String: [UInt32: UInt64]]] = [:]
        /// Live session ids.
        var sessions: Set<String> = []
        var statistics = RivvenServerStatistics()
    }

    let defaultPartitions: UInt32
    let retainRecords: Bool
    let requireAuth: Bool
    let sessionLifetime: Duration
    let credentials: [String: RivvenScramServer.Credentials]
    let scramServerNonce: (@Sendable () -> String)?
    let storage: Mutex<Storage>
    /// Set while the server stops, so long polls return at once.
    let stopping = Atomic<Bool>(false)
    private let monotonicBase = ContinuousClock.now

    init(configuration: RivvenTestServer.Configuration) {
        precondition(configuration.defaultPartitions >= 1, "RivvenTestServer: defaultPartitions must be at least 1")
        defaultPartitions = configuration.defaultPartitions
        retainRecords = configuration.retainRecords
        requireAuth = configuration.requireAuth
        sessionLifetime = configuration.sessionLifetime
        scramServerNonce = configuration.scramServerNonce
        var credentials: [String: RivvenScramServer.Credentials] = [:]
        for user in configuration.users {
            precondition(user.iterations >= 1, "RivvenTestServer: a user needs at least one PBKDF2 iteration")
            credentials[user.name] = RivvenScramServer.Credentials(
                password: user.password,
                salt: user.salt ?? Self.randomBytes(32),
                iterations: user.iterations
            )
        }
        self.credentials = credentials
        storage = Mutex(
            Storage(
                sticky: RivvenStickyPartitioner(
                    batchSize: configuration.stickyBatchSize,
                    lingerNanoseconds: Self.nanoseconds(configuration.stickyLinger)
                )
            )
        )
    }

    /// Forgets what rivvend keeps only in memory (producer ids and sequences, sticky runs, sessions), keeping topics,
    /// records and committed offsets, which rivvend persists.
    func simulateRestart() {
        storage.withLock { storage in
            storage.producers.reset()
            storage.sticky.reset()
            storage.sessions.removeAll()
        }
    }

    /// Forgets every producer id and sequence (as after a broker restart).
    func forgetProducers() {
        storage.withLock { $0.producers.reset() }
    }

    func updateStatistics(_ body: (inout RivvenServerStatistics) -> Void) {
        storage.withLock { body(&$0.statistics) }
    }

    // MARK: Dispatch

    /// The reply to `request` on a connection in state `auth`, as rivvend's connection loop, `AuthenticatedHandler`
    /// and `RequestHandler` produce it.
    func respond(to request: RivvenRequest, auth: inout ConnectionAuth) -> RivvenResponse {
        // Without --require-auth there is no authentication handler: everything goes to the request handler.
        guard requireAuth else { return handle(request) }
        switch request {
        case .authenticate, .saslAuthenticate, .scramClientFirst, .scramClientFinal, .ping, .handshake:
            return handleAuthenticationRequest(request, auth: &auth)
        default:
            break
        }
        switch auth {
        case .unauthenticated:
            return .error(message: "AUTHENTICATION_REQUIRED: Please authenticate first")
        case .scramInProgress:
            return .error(message: "AUTHENTICATION_REQUIRED: Complete SCRAM handshake first")
        case .authenticated(let sessionID, let expiresAt):
            if let problem = sessionProblem(sessionID: sessionID, expiresAt: expiresAt) {
                auth = .unauthenticated
                return problem
            }
            return handle(request)
        case .anonymous:
            return handle(request)
        }
    }

    /// What a request gets once authentication is settled (`RequestHandler::handle`).
    func handle(_ request: RivvenRequest) -> RivvenResponse {
        switch request {
        case .authenticate, .saslAuthenticate, .scramClientFirst, .scramClientFinal:
            return .error(message: "UNSUPPORTED: Use authenticated endpoint for authentication")
        case .ping:
            return .pong
        case .handshake(let protocolVersion, _):
            let server = RivvenLimits.protocolVersion
            let compatible = protocolVersion == server
            return .handshakeResult(
                serverVersion: server,
                compatible: compatible,
                message: compatible ? "OK" : "Version mismatch: client=\(protocolVersion), server=\(server)"
            )
        case .createTopic(let name, let partitions):
            return createTopic(name: name, partitions: partitions)
        case .listTopics:
            return .topics(storage.withLock { $0.topicOrder })
        case .getMetadata(let topic):
            return metadata(topic: topic)
        case .publish(let topic, let partition, let key, let value, _):
            return publish(topic: topic, partition: partition, key: key, value: value)
        case .publishBatch(let topic, let partition, let records, _):
            return publishBatch(topic: topic, partition: partition, records: records)
        case .initProducerID(let producerID):
            let (id, epoch) = storage.withLock { $0.producers.initProducer(existing: producerID) }
            return .producerIDInitialized(producerID: id, producerEpoch: epoch)
        case .idempotentPublish(let topic, let partition, let key, let value, let id, let epoch, let sequence, _):
            return idempotentPublish(
                topic: topic,
                partition: partition,
                records: [RivvenBatchRecord(key: key, value: value)],
                idempotence: RivvenIdempotence(producerID: id, producerEpoch: epoch, baseSequence: sequence),
                single: true
            )
        case .idempotentPublishBatch(let topic, let partition, let records, let idempotence, _):
            if records.isEmpty {
                return .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 0, duplicate: false)
            }
            return idempotentPublish(
                topic: topic,
                partition: partition,
                records: records,
                idempotence: idempotence,
                single: false
            )
        case .consume(let topic, let partition, let offset, let maxMessages, _, let maxWaitMs):
            return consume(
                topic: topic,
                partition: partition,
                offset: offset,
                maxMessages: maxMessages,
                maxWaitMs: maxWaitMs
            )
        case .commitOffset(let group, let topic, let partition, let offset):
            return commitOffset(group: group, topic: topic, partition: partition, offset: offset)
        case .getOffset(let group, let topic, let partition):
            if let problem = RivvenNameValidator.consumerGroupProblem(group) {
                return .error(message: "INVALID_CONSUMER_GROUP: \(problem)")
            }
            if let problem = RivvenNameValidator.topicNameProblem(topic) {
                return .error(message: "INVALID_TOPIC_NAME: \(problem)")
            }
            return .offset(storage.withLock { $0.groupOffsets[group]?[topic]?[partition] })
        case .getOffsetBounds(let topic, let partition):
            return offsetBounds(topic: topic, partition: partition)
        case .getOffsetForTimestamp(let topic, let partition, let timestampMs):
            return offsetForTimestamp(topic: topic, partition: partition, timestampMs: timestampMs)
        }
    }

    // MARK: Authentication

    private func handleAuthenticationRequest(_ request: RivvenRequest, auth: inout ConnectionAuth) -> RivvenResponse {
        switch request {
        case .authenticate(let username, let password, let requireTLS):
            if requireTLS {
                return .error(
                    message: "PLAINTEXT_AUTH_REQUIRES_TLS: The client requires a TLS connection for plaintext "
                        + "authentication. Use a TLS listener or switch to SCRAM-SHA-256."
                )
            }
            guard let keys = credentials[username], keys.verifies(password: password) else {
                return .error(
                    message: "AUTHENTICATION_FAILED: \(RivvenScramServer.Failure.authenticationFailed.rawValue)"
                )
            }
            let (sessionID, expiresAt) = openSession()
            auth = .authenticated(sessionID: sessionID, expiresAt: expiresAt)
            return .authenticated(sessionID: sessionID, expiresIn: sessionLifetimeSeconds)
        case .saslAuthenticate(let mechanism, _):
            let name = String(decoding: mechanism, as: UTF8.self)
            if name == "PLAIN" {
                // This server has no TLS listener, and rivvend refuses SASL/PLAIN without TLS.
                return .error(
                    message: "SASL/PLAIN requires a TLS connection (use SASL_SSL listener). Sending credentials over "
                        + "cleartext is not permitted."
                )
            }
            return .error(message: "UNSUPPORTED_MECHANISM: Only PLAIN is supported, got \(name)")
        case .scramClientFirst(let message):
            let nonce = scramServerNonce?() ?? RivvenBase64.encode(Self.randomBytes(24))
            let result = RivvenScramServer.clientFirst(
                message,
                credentials: { credentials[$0] },
                serverNonce: nonce,
                fakeSalt: { Self.randomBytes(32) }
            )
            switch result {
            case .success(let (pending, serverFirst)):
                auth = .scramInProgress(pending)
                return .scramServerFirst(message: serverFirst)
            case .failure(let failure):
                return .error(message: "SCRAM_FAILED: \(failure.rawValue)")
            }
        case .scramClientFinal(let message):
            guard case .scramInProgress(let pending) = auth else {
                return .error(message: "SCRAM_FAILED: Invalid state - send client-first first")
            }
            switch RivvenScramServer.clientFinal(message, pending: pending, credentials: { credentials[$0] }) {
            case .success(let serverFinal):
                let (sessionID, expiresAt) = openSession()
                auth = .authenticated(sessionID: sessionID, expiresAt: expiresAt)
                return .scramServerFinal(message: serverFinal, sessionID: sessionID, expiresIn: sessionLifetimeSeconds)
            case .failure(let failure):
                auth = .unauthenticated
                return .scramServerFinal(message: Array("e=\(failure.rawValue)".utf8), sessionID: nil, expiresIn: nil)
            }
        case .ping:
            return .pong
        default:
            // Handshake: rivvend's AuthenticatedHandler checks the connection's state, then finds no permission
            // rule for it.
            switch auth {
            case .unauthenticated:
                return .error(message: "AUTHENTICATION_REQUIRED: Please authenticate first")
            case .scramInProgress:
                return .error(message: "AUTHENTICATION_REQUIRED: Complete SCRAM handshake first")
            case .authenticated(let sessionID, let expiresAt):
                if let problem = sessionProblem(sessionID: sessionID, expiresAt: expiresAt) {
                    auth = .unauthenticated
                    return problem
                }
                return .error(message: "INTERNAL_ERROR: Unexpected request type")
            case .anonymous:
                return .error(message: "AUTHENTICATION_REQUIRED: Anonymous access not allowed")
            }
        }
    }

    private var sessionLifetimeSeconds: UInt64 {
        UInt64(max(0, sessionLifetime.components.seconds))
    }

    private func openSession() -> (String, ContinuousClock.Instant) {
        let id = Self.randomBytes(32).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
        }.joined()
        storage.withLock { _ = $0.sessions.insert(id) }
        return (id, ContinuousClock.now + sessionLifetime)
    }

    private func sessionProblem(sessionID: String, expiresAt: ContinuousClock.Instant) -> RivvenResponse? {
        if ContinuousClock.now >= expiresAt {
            return .error(message: "SESSION_EXPIRED: Please re-authenticate")
        }
        if !storage.withLock({ $0.sessions.contains(sessionID) }) {
            return .error(message: "INVALID_SESSION: Please re-authenticate")
        }
        return nil
    }

    // MARK: Topics

    private func createTopic(name: String, partitions: UInt32?) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(name) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        if let partitions, partitions == 0 || partitions > 1000 {
            return .error(message: "INVALID_PARTITION_COUNT: must be between 1 and 1000, got \(partitions)")
        }
        return storage.withLock { storage in
            if storage.topics[name] != nil { return .error(message: "Topic '\(name)' already exists") }
            let count = partitions ?? defaultPartitions
            storage.topics[name] = Array(repeating: PartitionLog(), count: Int(count))
            storage.topicOrder.append(name)
            return .topicCreated(name: name, partitions: count)
        }
    }

    private func metadata(topic: String) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        guard let count = storage.withLock({ $0.topics[topic]?.count }) else {
            return .error(message: "Topic not found: \(topic)")
        }
        return .metadata(name: topic, partitions: UInt32(count))
    }

    // MARK: Produce

    /// The topic's partition count, creating the topic with the default count when it does not exist (rivvend's
    /// `resolve_topic` with `auto_create_topics`, which 0.0.22 cannot turn off).
    private func resolveTopic(_ topic: String, in storage: inout Storage) -> UInt32 {
        if let partitions = storage.topics[topic] { return UInt32(partitions.count) }
        storage.topics[topic] = Array(repeating: PartitionLog(), count: Int(defaultPartitions))
        storage.topicOrder.append(topic)
        return defaultPartitions
    }

    /// The partition for a publish: the explicit one, else the sticky partitioner's choice for `key`; nil (with the
    /// reply) when it does not exist.
    private func choosePartition(
        _ partition: UInt32?,
        topic: String,
        key: [UInt8]?,
        count: UInt32,
        in storage: inout Storage
    ) -> Result<UInt32, RivvenServerReply> {
        let chosen =
            partition
            ?? storage.sticky.partition(topic: topic, key: key, partitionCount: count, now: monotonicNanoseconds())
        if chosen >= count {
            return .failure(
                RivvenServerReply(.error(message: "INVALID_PARTITION: Invalid partition \(chosen): must be < \(count)"))
            )
        }
        return .success(chosen)
    }

    /// Appends `records` to one partition; returns the first record's offset.
    private func append(_ records: [RivvenBatchRecord], topic: String, partition: UInt32, in storage: inout Storage)
        -> UInt64
    {
        let timestamp = Self.wallClockMilliseconds()
        let base = storage.topics[topic]![Int(partition)].nextOffset
        if retainRecords {
            var offset = base
            for record in records {
                storage.topics[topic]![Int(partition)].records.append(
                    RivvenStoredRecord(
                        offset: offset,
                        partition: partition,
                        key: record.key,
                        value: record.value,
                        timestamp: timestamp
                    )
                )
                offset += 1
            }
        }
        storage.topics[topic]![Int(partition)].nextOffset = base + UInt64(records.count)
        storage.statistics.recordsStored += records.count
        return base
    }

    private func publish(topic: String, partition: UInt32?, key: [UInt8]?, value: [UInt8]) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        return storage.withLock { storage in
            let count = resolveTopic(topic, in: &storage)
            switch choosePartition(partition, topic: topic, key: key, count: count, in: &storage) {
            case .failure(let reply):
                return reply.response
            case .success(let chosen):
                let offset = append(
                    [RivvenBatchRecord(key: key, value: value)],
                    topic: topic,
                    partition: chosen,
                    in: &storage
                )
                return .published(offset: offset, partition: chosen)
            }
        }
    }

    private func publishBatch(topic: String, partition: UInt32?, records: [RivvenBatchRecord]) -> RivvenResponse {
        if records.isEmpty { return .publishedBatch(baseOffset: 0, partition: 0, recordCount: 0) }
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        return storage.withLock { storage in
            let count = resolveTopic(topic, in: &storage)
            switch choosePartition(partition, topic: topic, key: records[0].key, count: count, in: &storage) {
            case .failure(let reply):
                return reply.response
            case .success(let chosen):
                let base = append(records, topic: topic, partition: chosen, in: &storage)
                return .publishedBatch(baseOffset: base, partition: chosen, recordCount: UInt32(records.count))
            }
        }
    }

    /// `IdempotentPublish` (`single`) and `IdempotentPublishBatch` (non-empty `records`), WIRE.md §11. The two
    /// handlers differ only in their reply variant and error texts.
    private func idempotentPublish(
        topic: String,
        partition: UInt32?,
        records: [RivvenBatchRecord],
        idempotence: RivvenIdempotence,
        single: Bool
    ) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        func reply(offset: UInt64, partition: UInt32, duplicate: Bool) -> RivvenResponse {
            single
                ? .idempotentPublished(offset: offset, partition: partition, duplicate: duplicate)
                : .idempotentPublishedBatch(
                    baseOffset: offset,
                    partition: partition,
                    recordCount: UInt32(records.count),
                    duplicate: duplicate
                )
        }
        let id = idempotence.producerID
        let epoch = idempotence.producerEpoch
        let base = idempotence.baseSequence
        return storage.withLock { storage in
            let count = resolveTopic(topic, in: &storage)
            let chosen: UInt32
            switch choosePartition(partition, topic: topic, key: records[0].key, count: count, in: &storage) {
            case .failure(let reply): return reply.response
            case .success(let value): chosen = value
            }
            switch storage.producers.validate(producerID: id, epoch: epoch, partition: chosen, sequence: base) {
            case .valid:
                let offset = append(records, topic: topic, partition: chosen, in: &storage)
                for index in records.indices {
                    storage.producers.record(
                        producerID: id,
                        epoch: epoch,
                        partition: chosen,
                        sequence: base &+ Int32(truncatingIfNeeded: index),
                        offset: offset + UInt64(index)
                    )
                }
                return reply(offset: offset, partition: chosen, duplicate: false)
            case .duplicate(let cachedOffset):
                storage.statistics.duplicatesDetected += 1
                return reply(offset: cachedOffset, partition: chosen, duplicate: true)
            case .outOfOrder(let expected, let received):
                return .error(
                    message: single
                        ? "OUT_OF_ORDER_SEQUENCE: expected sequence \(expected), got \(received)"
                        : "OUT_OF_ORDER_SEQUENCE: expected \(expected), got \(received)"
                )
            case .fenced(let current, let received):
                return .error(
                    message: single
                        ? "PRODUCER_FENCED: producer has been fenced (current epoch: \(current), received: \(received))"
                        : "PRODUCER_FENCED: current epoch \(current), received \(received)"
                )
            case .unknownProducer:
                return .error(
                    message: single
                        ? "UNKNOWN_PRODUCER_ID: producer \(id) not initialized, call InitProducerId first"
                        : "UNKNOWN_PRODUCER_ID: producer \(id) not initialized"
                )
            }
        }
    }

    // MARK: Consume

    private func consume(topic: String, partition: UInt32, offset: UInt64, maxMessages: UInt32, maxWaitMs: UInt64?)
        -> RivvenResponse
    {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        let limit = Int(min(maxMessages, 10_000))
        let wait = Duration.milliseconds(Int64(min(maxWaitMs ?? 0, 30_000)))
        let deadline = ContinuousClock.now + wait
        while true {
            let outcome: Result<[RivvenMessage], RivvenServerReply> = storage.withLock { storage in
                guard let partitions = storage.topics[topic] else {
                    return .failure(RivvenServerReply(.error(message: "Topic not found: \(topic)")))
                }
                guard partition < partitions.count else {
                    return .failure(
                        RivvenServerReply(
                            .error(
                                message:
                                    "INVALID_PARTITION: Invalid partition \(partition): must be < \(partitions.count)"
                            )
                        )
                    )
                }
                let log = partitions[Int(partition)].records
                guard offset < UInt64(log.count), limit > 0 else { return .success([]) }
                let end = min(log.count, Int(offset) + limit)
                return .success(
                    log[Int(offset)..<end].map {
                        RivvenMessage(
                            offset: $0.offset,
                            partition: partition,
                            key: $0.key,
                            value: $0.value,
                            timestamp: $0.timestamp
                        )
                    }
                )
            }
            switch outcome {
            case .failure(let reply):
                return reply.response
            case .success(let messages):
                if !messages.isEmpty || ContinuousClock.now >= deadline || stopping.load(ordering: .relaxed) {
                    return .messages(messages)
                }
            }
            // Long poll (max_wait_ms): look again shortly; rivvend wakes on the append itself.
            usleep(2_000)
        }
    }

    private func commitOffset(group: String, topic: String, partition: UInt32, offset: UInt64) -> RivvenResponse {
        if let problem = RivvenNameValidator.consumerGroupProblem(group) {
            return .error(message: "INVALID_CONSUMER_GROUP: \(problem)")
        }
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        return storage.withLock { storage in
            guard let partitions = storage.topics[topic] else {
                return .error(message: "UNKNOWN_TOPIC: topic '\(topic)' does not exist")
            }
            guard partition < partitions.count else {
                return .error(message: "UNKNOWN_PARTITION: partition \(partition) does not exist in topic '\(topic)'")
            }
            let latest = partitions[Int(partition)].nextOffset
            if offset > latest {
                return .error(
                    message:
                        "OFFSET_OUT_OF_RANGE: offset \(offset) exceeds latest offset \(latest) for partition \(partition)"
                )
            }
            storage.groupOffsets[group, default: [:]][topic, default: [:]][partition] = offset
            return .offsetCommitted
        }
    }

    private func offsetBounds(topic: String, partition: UInt32) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        return storage.withLock { storage in
            guard let partitions = storage.topics[topic] else { return .error(message: "Topic not found: \(topic)") }
            guard partition < partitions.count else {
                return .error(message: "Partition \(partition) not found for topic '\(topic)'")
            }
            return .offsetBounds(earliest: 0, latest: partitions[Int(partition)].nextOffset)
        }
    }

    private func offsetForTimestamp(topic: String, partition: UInt32, timestampMs: Int64) -> RivvenResponse {
        if let problem = RivvenNameValidator.topicNameProblem(topic) {
            return .error(message: "INVALID_TOPIC_NAME: \(problem)")
        }
        return storage.withLock { storage in
            guard let partitions = storage.topics[topic] else { return .error(message: "Topic not found: \(topic)") }
            guard partition < partitions.count else {
                return .error(
                    message: "INVALID_PARTITION: Invalid partition \(partition): must be < \(partitions.count)"
                )
            }
            return .offsetForTimestamp(partitions[Int(partition)].records.first { $0.timestamp >= timestampMs }?.offset)
        }
    }

    // MARK: Inspection

    func records(topic: String, partition: UInt32) -> [RivvenStoredRecord] {
        storage.withLock { storage in
            guard let partitions = storage.topics[topic], partition < partitions.count else { return [] }
            return partitions[Int(partition)].records
        }
    }

    func allRecords(topic: String) -> [RivvenStoredRecord] {
        storage.withLock { $0.topics[topic]?.flatMap(\.records) ?? [] }
    }

    // MARK: Helpers

    private func monotonicNanoseconds() -> UInt64 {
        Self.nanoseconds(ContinuousClock.now - monotonicBase)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }

    static func wallClockMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// A reply carried through `Result` (whose failure type must be an `Error`).
struct RivvenServerReply: Error {
    var response: RivvenResponse
    init(_ response: RivvenResponse) { self.response = response }
}
