/// The broker's idempotent-producer bookkeeping, with the rules of rivvend 0.0.22's `IdempotentProducerManager`
/// (WIRE.md §7.6, §11). Pure state, no locking: the broker calls it under its own lock.
///
/// State is kept per (producer id, **partition number**): the topic is not part of the key. For each pair the broker
/// remembers the last accepted sequence, the last offset, and the offsets of the last 5 sequences (one entry per record,
/// so a batch of more than 5 records keeps only its tail).
struct RivvenProducerRegistry {
    /// The verdict on a sequence number before anything is appended.
    enum SequenceCheck: Equatable {
        /// Append, then ``record(producerID:epoch:partition:sequence:offset:)``.
        case valid
        /// Seen already (`sequence ≤ last`): append nothing, answer this offset with `duplicate: true`.
        case duplicate(cachedOffset: UInt64)
        /// A gap, or no state yet and a sequence other than 0.
        case outOfOrder(expected: Int32, received: Int32)
        /// An epoch lower than the producer's current one.
        case fenced(currentEpoch: UInt16, receivedEpoch: UInt16)
        /// The producer id was never initialised (or the broker restarted).
        case unknownProducer
    }

    private static let rememberedSequences = 5

    private struct PartitionState {
        var lastSequence: Int32
        var lastOffset: UInt64
        var recent: [(sequence: Int32, offset: UInt64)]

        init(sequence: Int32, offset: UInt64) {
            lastSequence = sequence
            lastOffset = offset
            recent = [(sequence, offset)]
        }

        mutating func update(sequence: Int32, offset: UInt64) {
            lastSequence = sequence
            lastOffset = offset
            recent.append((sequence, offset))
            if recent.count > RivvenProducerRegistry.rememberedSequences { recent.removeFirst() }
        }

        func cachedOffset(for sequence: Int32) -> UInt64 {
            recent.first { $0.sequence == sequence }?.offset ?? lastOffset
        }
    }

    private struct Producer {
        var epoch: UInt16
        var partitions: [UInt32: PartitionState] = [:]
    }

    private var producers: [UInt64: Producer] = [:]
    private var nextProducerID: UInt64 = 1

    /// How many producer ids are known.
    var producerCount: Int { producers.count }

    /// `InitProducerId`: nil → a new id (from 1) with epoch 0; a known id → the same id with the next epoch (wrapping)
    /// and its sequence state cleared; an unknown id → registered as given, epoch 0 (the id counter is not advanced).
    mutating func initProducer(existing: UInt64?) -> (producerID: UInt64, epoch: UInt16) {
        if let existing {
            if var producer = producers[existing] {
                producer.epoch &+= 1
                producer.partitions.removeAll()
                producers[existing] = producer
                return (existing, producer.epoch)
            }
            producers[existing] = Producer(epoch: 0)
            return (existing, 0)
        }
        let id = nextProducerID
        nextProducerID &+= 1
        producers[id] = Producer(epoch: 0)
        return (id, 0)
    }

    /// Checks `sequence` for (`producerID`, `partition`). Like rivvend, a higher epoch is adopted here (clearing the
    /// producer's sequence state) whatever the verdict.
    mutating func validate(producerID: UInt64, epoch: UInt16, partition: UInt32, sequence: Int32) -> SequenceCheck {
        guard var producer = producers[producerID] else { return .unknownProducer }
        if epoch < producer.epoch { return .fenced(currentEpoch: producer.epoch, receivedEpoch: epoch) }
        if epoch > producer.epoch {
            producer.epoch = epoch
            producer.partitions.removeAll()
            producers[producerID] = producer
        }
        guard let state = producer.partitions[partition] else {
            return sequence == 0 ? .valid : .outOfOrder(expected: 0, received: sequence)
        }
        let expected = state.lastSequence &+ 1
        if sequence == expected { return .valid }
        if sequence <= state.lastSequence { return .duplicate(cachedOffset: state.cachedOffset(for: sequence)) }
        return .outOfOrder(expected: expected, received: sequence)
    }

    /// Remembers that `sequence` was stored at `offset` (ignored when `epoch` is no longer the producer's epoch).
    mutating func record(producerID: UInt64, epoch: UInt16, partition: UInt32, sequence: Int32, offset: UInt64) {
        guard var producer = producers[producerID], producer.epoch == epoch else { return }
        if producer.partitions[partition] == nil {
            producer.partitions[partition] = PartitionState(sequence: sequence, offset: offset)
        } else {
            producer.partitions[partition]!.update(sequence: sequence, offset: offset)
        }
        producers[producerID] = producer
    }

    /// Forgets every producer, as a broker restart does (ids are handed out from 1 again).
    mutating func reset() {
        producers.removeAll()
        nextProducerID = 1
    }
}

/// rivvend 0.0.22's partition choice for a publish without a partition (`StickyPartitioner`): a keyed record goes to
/// `murmur2(key) & 0x7fffffff % n`; keyless records of a topic stick to one partition and move to the next one after
/// `batchSize` calls or once `linger` has passed since the current run began. A topic's first keyless publish starts at
/// a server-wide counter (0, 1, 2, … across topics) modulo its partition count.
struct RivvenStickyPartitioner {
    private struct TopicState {
        var current: UInt32
        var count: UInt64
        var runStartNanoseconds: UInt64
    }

    /// Calls per run before rotating (0 = no count limit).
    var batchSize: UInt64
    /// Run length before rotating, in nanoseconds.
    var lingerNanoseconds: UInt64
    private var topics: [String: TopicState] = [:]
    private var globalCounter: UInt32 = 0

    init(batchSize: UInt64, lingerNanoseconds: UInt64) {
        self.batchSize = batchSize
        self.lingerNanoseconds = lingerNanoseconds
    }

    /// The partition for one publish call; `now` is a monotonic time in nanoseconds.
    mutating func partition(topic: String, key: [UInt8]?, partitionCount: UInt32, now: UInt64) -> UInt32 {
        guard partitionCount > 0 else { return 0 }
        if let key { return RivvenPartitioner.partition(forKey: key, partitionCount: partitionCount) }
        guard var state = topics[topic] else {
            let initial = globalCounter % partitionCount
            globalCounter &+= 1
            topics[topic] = TopicState(current: initial, count: 1, runStartNanoseconds: now)
            return initial
        }
        let elapsed = now >= state.runStartNanoseconds ? now - state.runStartNanoseconds : 0
        let rotate = (batchSize > 0 && state.count >= batchSize) || elapsed >= lingerNanoseconds
        if !rotate {
            state.count += 1
            topics[topic] = state
            return state.current % partitionCount
        }
        state.current = (state.current &+ 1) % partitionCount
        state.count = 1
        state.runStartNanoseconds = now
        topics[topic] = state
        return state.current
    }

    /// Forgets every topic's run and the counter, as a broker restart does.
    mutating func reset() {
        topics.removeAll()
        globalCounter = 0
    }
}

/// rivvend 0.0.22's name checks (`rivven_core::Validator`), returning the text after the error code.
enum RivvenNameValidator {
    /// The longest topic name, in bytes.
    static let maxTopicNameLength = 255

    /// nil when `name` is a valid topic name (`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$`, no `..`), else the reason text
    /// that follows `INVALID_TOPIC_NAME: `.
    static func topicNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "Topic name cannot be empty" }
        if bytes.count > maxTopicNameLength {
            return "Topic name too long: \(bytes.count) chars (max: \(maxTopicNameLength))"
        }
        if !matchesTopicPattern(bytes) {
            return "Invalid topic name '\(name)': must start with alphanumeric and contain only alphanumeric, dots, "
                + "hyphens, underscores"
        }
        if name.contains("..") { return "Invalid topic name '\(name)': path traversal patterns not allowed" }
        return nil
    }

    /// nil when `id` is a valid consumer group id, else `Invalid consumer group ID: <id>`.
    static func consumerGroupProblem(_ id: String) -> String? {
        let bytes = Array(id.utf8)
        if bytes.isEmpty || bytes.count > maxTopicNameLength || !matchesTopicPattern(bytes) {
            return "Invalid consumer group ID: \(id)"
        }
        return nil
    }

    private static func matchesTopicPattern(_ bytes: [UInt8]) -> Bool {
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard let first = bytes.first, isAlphanumeric(first), bytes.count <= maxTopicNameLength else { return false }
        return bytes.dropFirst().allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }
}
