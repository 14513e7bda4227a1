/// A client → broker message of the Rivven native protocol (Rust `rivven_protocol::Request`, WIRE.md §5–§7, §9).
///
/// The cases are the requests a producer sends plus those needed to replay the captured fixtures (consumer
/// requests); their associated values are the Rust fields in wire order. The other variants the protocol defines
/// (transactions, consumer groups, quotas, admin) decode to ``RivvenCodecError/Code/unsupportedVariant``.
///
/// Encoding: ``encode(correlationID:into:)`` appends a whole frame to a caller-owned buffer. For batches whose values
/// come from the local log, ``RivvenBatchEncoder`` writes the records straight into the frame instead of building
/// ``RivvenBatchRecord`` arrays first. Decoding (used by test servers): ``decode(_:)`` and friends.
public enum RivvenRequest: Sendable, Hashable {
    /// `Authenticate` (0): plaintext login; the broker refuses it on a non-TLS connection when `requireTLS` is true.
    case authenticate(username: String, password: String, requireTLS: Bool)
    /// `SaslAuthenticate` (1): SASL (PLAIN) login.
    case saslAuthenticate(mechanism: [UInt8], authBytes: [UInt8])
    /// `ScramClientFirst` (2): `n,,n=<user>,r=<nonce>`.
    case scramClientFirst(message: [UInt8])
    /// `ScramClientFinal` (3): `c=biws,r=<nonce>,p=<proof>`.
    case scramClientFinal(message: [UInt8])
    /// `Publish` (4): one record; partition nil lets the broker choose. Answered `Published`.
    case publish(topic: String, partition: UInt32?, key: [UInt8]?, value: [UInt8], leaderEpoch: UInt64?)
    /// `Consume` (5): read from `offset`. Answered `Messages`.
    case consume(
        topic: String,
        partition: UInt32,
        offset: UInt64,
        maxMessages: UInt32,
        isolationLevel: UInt8?,
        maxWaitMs: UInt64?
    )
    /// `CreateTopic` (6): partitions nil → the broker default. Answered `TopicCreated`.
    case createTopic(name: String, partitions: UInt32?)
    /// `ListTopics` (7). Answered `Topics`.
    case listTopics
    /// `CommitOffset` (9). Answered `OffsetCommitted`.
    case commitOffset(consumerGroup: String, topic: String, partition: UInt32, offset: UInt64)
    /// `GetOffset` (10): a consumer group's committed offset. Answered `Offset`.
    case getOffset(consumerGroup: String, topic: String, partition: UInt32)
    /// `GetMetadata` (11): a topic's partition count. Answered `Metadata`.
    case getMetadata(topic: String)
    /// `Ping` (13). Answered `Pong`; allowed before authentication.
    case ping
    /// `GetOffsetBounds` (14). Answered `OffsetBounds`.
    case getOffsetBounds(topic: String, partition: UInt32)
    /// `GetOffsetForTimestamp` (18). Answered `OffsetForTimestamp`.
    case getOffsetForTimestamp(topic: String, partition: UInt32, timestampMs: Int64)
    /// `InitProducerId` (19): nil → a new producer id; an id → the same id with the next epoch. Answered
    /// `ProducerIdInitialized`.
    case initProducerID(producerID: UInt64?)
    /// `IdempotentPublish` (20): one record with a sequence number. Answered `IdempotentPublished`.
    case idempotentPublish(
        topic: String,
        partition: UInt32?,
        key: [UInt8]?,
        value: [UInt8],
        producerID: UInt64,
        producerEpoch: UInt16,
        sequence: Int32,
        leaderEpoch: UInt64?
    )
    /// `Handshake` (33): first request on a connection. Answered `HandshakeResult` (or `Error` when the broker
    /// requires authentication).
    case handshake(protocolVersion: UInt32, clientID: String)
    /// `PublishBatch` (38): records for one partition (nil → the broker picks it from the first record's key).
    /// Answered `PublishedBatch`.
    case publishBatch(topic: String, partition: UInt32?, records: [RivvenBatchRecord], leaderEpoch: UInt64?)
    /// `IdempotentPublishBatch` (39): on the wire the idempotence fields come after the records, then
    /// `leader_epoch`. Answered `IdempotentPublishedBatch`.
    case idempotentPublishBatch(
        topic: String,
        partition: UInt32?,
        records: [RivvenBatchRecord],
        idempotence: RivvenIdempotence,
        leaderEpoch: UInt64?
    )

    /// The Rust variant names, by variant index (WIRE.md §9), including the variants this codec does not implement.
    public static let variantNames: [String] = [
        "Authenticate", "SaslAuthenticate", "ScramClientFirst", "ScramClientFinal", "Publish", "Consume",
        "CreateTopic", "ListTopics", "DeleteTopic", "CommitOffset", "GetOffset", "GetMetadata", "GetClusterMetadata",
        "Ping", "GetOffsetBounds", "ListGroups", "DescribeGroup", "DeleteGroup", "GetOffsetForTimestamp",
        "InitProducerId", "IdempotentPublish", "BeginTransaction", "AddPartitionsToTxn", "TransactionalPublish",
        "AddOffsetsToTxn", "CommitTransaction", "AbortTransaction", "DescribeQuotas", "AlterQuotas",
        "AlterTopicConfig", "CreatePartitions", "DeleteRecords", "DescribeTopicConfigs", "Handshake", "JoinGroup",
        "SyncGroup", "Heartbeat", "LeaveGroup", "PublishBatch", "IdempotentPublishBatch",
    ]

    /// The variant indices this codec encodes and decodes.
    public static let implementedVariantIndices: Set<UInt32> = [
        0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 18, 19, 20, 33, 38, 39,
    ]

    /// The variant index written first in the payload.
    public var variantIndex: UInt32 {
        switch self {
        case .authenticate: 0
        case .saslAuthenticate: 1
        case .scramClientFirst: 2
        case .scramClientFinal: 3
        case .publish: 4
        case .consume: 5
        case .createTopic: 6
        case .listTopics: 7
        case .commitOffset: 9
        case .getOffset: 10
        case .getMetadata: 11
        case .ping: 13
        case .getOffsetBounds: 14
        case .getOffsetForTimestamp: 18
        case .initProducerID: 19
        case .idempotentPublish: 20
        case .handshake: 33
        case .publishBatch: 38
        case .idempotentPublishBatch: 39
        }
    }

    /// The Rust variant name, such as `PublishBatch`.
    public var variantName: String { Self.variantNames[Int(variantIndex)] }
}

// MARK: - Encoding

extension RivvenRequest {
    /// Appends this request as a whole frame (header, payload, `L` patched in place).
    ///
    /// - Returns: `L`, which must not exceed ``RivvenLimits/maxRequestFrameLength`` for the broker to accept it.
    @discardableResult
    public func encode(correlationID: UInt32, into out: inout [UInt8]) -> Int {
        let mark = RivvenFrame.begin(correlationID: correlationID, into: &out)
        encodePayload(into: &out)
        return RivvenFrame.finish(mark, into: &out)
    }

    /// Appends only the postcard payload: the variant index, then the fields in wire order.
    public func encodePayload(into out: inout [UInt8]) {
        typealias W = PostcardWriter
        W.writeVarint(UInt64(variantIndex), into: &out)
        switch self {
        case .authenticate(let username, let password, let requireTLS):
            W.writeString(username, into: &out)
            W.writeString(password, into: &out)
            W.writeBool(requireTLS, into: &out)
        case .saslAuthenticate(let mechanism, let authBytes):
            W.writeBytes(mechanism, into: &out)
            W.writeBytes(authBytes, into: &out)
        case .scramClientFirst(let message), .scramClientFinal(let message):
            W.writeBytes(message, into: &out)
        case .publish(let topic, let partition, let key, let value, let leaderEpoch):
            W.writeString(topic, into: &out)
            W.writeOptionalU32(partition, into: &out)
            W.writeOptionalBytes(key, into: &out)
            W.writeBytes(value, into: &out)
            W.writeOptionalU64(leaderEpoch, into: &out)
        case .consume(let topic, let partition, let offset, let maxMessages, let isolationLevel, let maxWaitMs):
            W.writeString(topic, into: &out)
            W.writeU32(partition, into: &out)
            W.writeU64(offset, into: &out)
            W.writeU32(maxMessages, into: &out)
            W.writeOptionTag(isSome: isolationLevel != nil, into: &out)
            if let isolationLevel { W.writeU8(isolationLevel, into: &out) }
            W.writeOptionalU64(maxWaitMs, into: &out)
        case .createTopic(let name, let partitions):
            W.writeString(name, into: &out)
            W.writeOptionalU32(partitions, into: &out)
        case .listTopics, .ping:
            break
        case .commitOffset(let consumerGroup, let topic, let partition, let offset):
            W.writeString(consumerGroup, into: &out)
            W.writeString(topic, into: &out)
            W.writeU32(partition, into: &out)
            W.writeU64(offset, into: &out)
        case .getOffset(let consumerGroup, let topic, let partition):
            W.writeString(consumerGroup, into: &out)
            W.writeString(topic, into: &out)
            W.writeU32(partition, into: &out)
        case .getMetadata(let topic):
            W.writeString(topic, into: &out)
        case .getOffsetBounds(let topic, let partition):
            W.writeString(topic, into: &out)
            W.writeU32(partition, into: &out)
        case .getOffsetForTimestamp(let topic, let partition, let timestampMs):
            W.writeString(topic, into: &out)
            W.writeU32(partition, into: &out)
            W.writeI64(timestampMs, into: &out)
        case .initProducerID(let producerID):
            W.writeOptionalU64(producerID, into: &out)
        case .idempotentPublish(
            let topic,
            let partition,
            let key,
            let value,
            let producerID,
            let producerEpoch,
            let sequence,
            let leaderEpoch
        ):
            W.writeString(topic, into: &out)
            W.writeOptionalU32(partition, into: &out)
            W.writeOptionalBytes(key, into: &out)
            W.writeBytes(value, into: &out)
            W.writeU64(producerID, into: &out)
            W.writeU16(producerEpoch, into: &out)
            W.writeI32(sequence, into: &out)
            W.writeOptionalU64(leaderEpoch, into: &out)
        case .handshake(let protocolVersion, let clientID):
            W.writeU32(protocolVersion, into: &out)
            W.writeString(clientID, into: &out)
        case .publishBatch(let topic, let partition, let records, let leaderEpoch):
            W.writeString(topic, into: &out)
            W.writeOptionalU32(partition, into: &out)
            Self.writeRecords(records, into: &out)
            W.writeOptionalU64(leaderEpoch, into: &out)
        case .idempotentPublishBatch(let topic, let partition, let records, let idempotence, let leaderEpoch):
            W.writeString(topic, into: &out)
            W.writeOptionalU32(partition, into: &out)
            Self.writeRecords(records, into: &out)
            W.writeU64(idempotence.producerID, into: &out)
            W.writeU16(idempotence.producerEpoch, into: &out)
            W.writeI32(idempotence.baseSequence, into: &out)
            W.writeOptionalU64(leaderEpoch, into: &out)
        }
    }

    private static func writeRecords(_ records: [RivvenBatchRecord], into out: inout [UInt8]) {
        PostcardWriter.writeCount(records.count, into: &out)
        for record in records {
            PostcardWriter.writeOptionalBytes(record.key, into: &out)
            PostcardWriter.writeBytes(record.value, into: &out)
        }
    }
}

// MARK: - Decoding

extension RivvenRequest {
    /// Decodes a frame's payload (checking its format byte first). Positions in errors count from the frame's length
    /// prefix, as if the payload started at byte 9.
    public static func decode(_ frame: RivvenFrame) throws(RivvenCodecError) -> RivvenRequest {
        try frame.checkFormat()
        return try decode(payload: frame.payload, positionBase: RivvenFrame.headerLength)
    }

    /// Decodes exactly one whole frame (length prefix included) into its correlation id and request.
    public static func decodeFrame(
        _ bytes: [UInt8],
        maxFrameLength: Int = RivvenLimits.maxRequestFrameLength
    ) throws(RivvenCodecError) -> (correlationID: UInt32, request: RivvenRequest) {
        let frame = try RivvenFrame.parse(bytes, maxFrameLength: maxFrameLength)
        return (frame.correlationID, try decode(frame))
    }

    /// Decodes a payload that must hold exactly one request and nothing after it.
    public static func decode(payload: ArraySlice<UInt8>, positionBase: Int = 0) throws(RivvenCodecError)
        -> RivvenRequest
    {
        try PostcardReader.withReader(over: payload, positionBase: positionBase) { (reader) throws(RivvenCodecError) in
            let request = try decode(from: &reader)
            try reader.expectEnd()
            return request
        }
    }

    /// Decodes a payload in borrowed memory that must hold exactly one request and nothing after it.
    public static func decode(payload: UnsafeRawBufferPointer, positionBase: Int = 0) throws(RivvenCodecError)
        -> RivvenRequest
    {
        var reader = PostcardReader(unsafeBytes: payload, positionBase: positionBase)
        let request = try decode(from: &reader)
        try reader.expectEnd()
        return request
    }

    /// Reads one request (variant index, then fields) and leaves the reader after it.
    ///
    /// Besides the postcard rules, the broker's bounds (WIRE.md §10) are enforced as
    /// ``RivvenCodecError/Code/limitExceeded``: names ≤ 256 bytes, lists ≤ 10 000 entries, SCRAM/SASL payloads and
    /// passwords ≤ 64 KiB — the same checks `rivvend` makes after decoding.
    public static func decode(from reader: inout PostcardReader) throws(RivvenCodecError) -> RivvenRequest {
        let name = RivvenLimits.maxNameLength
        let auth = RivvenLimits.maxAuthPayloadLength
        let indexPosition = reader.position
        let index = try reader.readVariantIndex()
        switch index {
        case 0:
            return .authenticate(
                username: try reader.readString(limit: name),
                password: try reader.readString(limit: auth),
                requireTLS: try reader.readBool()
            )
        case 1:
            return .saslAuthenticate(
                mechanism: try reader.readBytes(limit: name),
                authBytes: try reader.readBytes(limit: auth)
            )
        case 2:
            return .scramClientFirst(message: try reader.readBytes(limit: auth))
        case 3:
            return .scramClientFinal(message: try reader.readBytes(limit: auth))
        case 4:
            return .publish(
                topic: try reader.readString(limit: name),
                partition: try reader.readOptionalU32(),
                key: try reader.readOptionalBytes(),
                value: try reader.readBytes(),
                leaderEpoch: try reader.readOptionalU64()
            )
        case 5:
            let topic = try reader.readString(limit: name)
            let partition = try reader.readU32()
            let offset = try reader.readU64()
            let maxMessages = try reader.readU32()
            let isolationLevel: UInt8? = try reader.readOptionTag() ? reader.readU8() : nil
            return .consume(
                topic: topic,
                partition: partition,
                offset: offset,
                maxMessages: maxMessages,
                isolationLevel: isolationLevel,
                maxWaitMs: try reader.readOptionalU64()
            )
        case 6:
            return .createTopic(name: try reader.readString(limit: name), partitions: try reader.readOptionalU32())
        case 7:
            return .listTopics
        case 9:
            return .commitOffset(
                consumerGroup: try reader.readString(limit: name),
                topic: try reader.readString(limit: name),
                partition: try reader.readU32(),
                offset: try reader.readU64()
            )
        case 10:
            return .getOffset(
                consumerGroup: try reader.readString(limit: name),
                topic: try reader.readString(limit: name),
                partition: try reader.readU32()
            )
        case 11:
            return .getMetadata(topic: try reader.readString(limit: name))
        case 13:
            return .ping
        case 14:
            // rivvend does not bound this topic name; neither does the decoder.
            return .getOffsetBounds(topic: try reader.readString(), partition: try reader.readU32())
        case 18:
            return .getOffsetForTimestamp(
                topic: try reader.readString(limit: name),
                partition: try reader.readU32(),
                timestampMs: try reader.readI64()
            )
        case 19:
            return .initProducerID(producerID: try reader.readOptionalU64())
        case 20:
            return .idempotentPublish(
                topic: try reader.readString(limit: name),
                partition: try reader.readOptionalU32(),
                key: try reader.readOptionalBytes(),
                value: try reader.readBytes(),
                producerID: try reader.readU64(),
                producerEpoch: try reader.readU16(),
                sequence: try reader.readI32(),
                leaderEpoch: try reader.readOptionalU64()
            )
        case 33:
            return .handshake(protocolVersion: try reader.readU32(), clientID: try reader.readString(limit: name))
        case 38:
            return .publishBatch(
                topic: try reader.readString(limit: name),
                partition: try reader.readOptionalU32(),
                records: try readRecords(&reader),
                leaderEpoch: try reader.readOptionalU64()
            )
        case 39:
            let topic = try reader.readString(limit: name)
            let partition = try reader.readOptionalU32()
            let records = try readRecords(&reader)
            let idempotence = RivvenIdempotence(
                producerID: try reader.readU64(),
                producerEpoch: try reader.readU16(),
                baseSequence: try reader.readI32()
            )
            return .idempotentPublishBatch(
                topic: topic,
                partition: partition,
                records: records,
                idempotence: idempotence,
                leaderEpoch: try reader.readOptionalU64()
            )
        case _ where index < variantNames.count:
            throw RivvenCodecError(.unsupportedVariant, at: indexPosition, value: UInt64(index))
        default:
            throw RivvenCodecError(.unknownVariant, at: indexPosition, value: UInt64(index))
        }
    }

    private static func readRecords(_ reader: inout PostcardReader) throws(RivvenCodecError) -> [RivvenBatchRecord] {
        let count = try reader.readCount(limit: RivvenLimits.maxListLength)
        var records: [RivvenBatchRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let key = try reader.readOptionalBytes()
            records.append(RivvenBatchRecord(key: key, value: try reader.readBytes()))
        }
        return records
    }
}
