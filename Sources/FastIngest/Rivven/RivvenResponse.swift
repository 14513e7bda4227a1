/// A broker → client message of the Rivven native protocol (Rust `rivven_protocol::Response`, WIRE.md §5–§8, §9).
///
/// The cases are every reply a producer can get, plus the consumer replies of the captured fixtures; their
/// associated values are the Rust fields in wire order. Other variants decode to
/// ``RivvenCodecError/Code/unsupportedVariant``. The gateway decodes replies with ``decode(_:)``; a test server
/// encodes them with ``encode(correlationID:into:)``.
public enum RivvenResponse: Sendable, Hashable {
    /// `Authenticated` (0): answer to `Authenticate`/`SaslAuthenticate`.
    case authenticated(sessionID: String, expiresIn: UInt64)
    /// `ScramServerFirst` (1): `r=<nonce>,s=<salt>,i=<iterations>`.
    case scramServerFirst(message: [UInt8])
    /// `ScramServerFinal` (2): `v=<signature>` or `e=<error>`; the client requires both options to be present.
    case scramServerFinal(message: [UInt8], sessionID: String?, expiresIn: UInt64?)
    /// `Published` (3): answer to `Publish`.
    case published(offset: UInt64, partition: UInt32)
    /// `Messages` (4): answer to `Consume`.
    case messages([RivvenMessage])
    /// `TopicCreated` (5): answer to `CreateTopic`.
    case topicCreated(name: String, partitions: UInt32)
    /// `Topics` (6): answer to `ListTopics`.
    case topics([String])
    /// `OffsetCommitted` (8): answer to `CommitOffset`.
    case offsetCommitted
    /// `Offset` (9): answer to `GetOffset`; nil when the group has no committed offset.
    case offset(UInt64?)
    /// `Metadata` (10): answer to `GetMetadata`.
    case metadata(name: String, partitions: UInt32)
    /// `Pong` (12): answer to `Ping`.
    case pong
    /// `OffsetBounds` (13): answer to `GetOffsetBounds`; `latest` is the next offset to be written.
    case offsetBounds(earliest: UInt64, latest: UInt64)
    /// `OffsetForTimestamp` (17): answer to `GetOffsetForTimestamp`.
    case offsetForTimestamp(UInt64?)
    /// `Error` (18): any failure, as text (mostly `CODE: details`, some bare sentences; WIRE.md §10).
    case error(message: String)
    /// `Ok` (19): generic success (no producer request gets it in 0.0.22).
    case ok
    /// `ProducerIdInitialized` (20): answer to `InitProducerId`.
    case producerIDInitialized(producerID: UInt64, producerEpoch: UInt16)
    /// `IdempotentPublished` (21): answer to `IdempotentPublish`.
    case idempotentPublished(offset: UInt64, partition: UInt32, duplicate: Bool)
    /// `Throttled` (30): a quota was exceeded; retry after `throttleTimeMs`.
    case throttled(throttleTimeMs: UInt64, quotaType: String, entity: String)
    /// `HandshakeResult` (35): answer to `Handshake` when authentication is off or done.
    case handshakeResult(serverVersion: UInt32, compatible: Bool, message: String)
    /// `PublishedBatch` (40): answer to `PublishBatch`; record *i* got `baseOffset + i`.
    case publishedBatch(baseOffset: UInt64, partition: UInt32, recordCount: UInt32)
    /// `IdempotentPublishedBatch` (41): answer to `IdempotentPublishBatch`; `duplicate` means nothing was appended
    /// because the sequence had been seen (then `baseOffset` is the offset recorded for it).
    case idempotentPublishedBatch(baseOffset: UInt64, partition: UInt32, recordCount: UInt32, duplicate: Bool)

    /// The Rust variant names, by variant index (WIRE.md §9), including the variants this codec does not implement.
    public static let variantNames: [String] = [
        "Authenticated", "ScramServerFirst", "ScramServerFinal", "Published", "Messages", "TopicCreated", "Topics",
        "TopicDeleted", "OffsetCommitted", "Offset", "Metadata", "ClusterMetadata", "Pong", "OffsetBounds", "Groups",
        "GroupDescription", "GroupDeleted", "OffsetForTimestamp", "Error", "Ok", "ProducerIdInitialized",
        "IdempotentPublished", "TransactionStarted", "PartitionsAddedToTxn", "TransactionalPublished",
        "OffsetsAddedToTxn", "TransactionCommitted", "TransactionAborted", "QuotasDescribed", "QuotasAltered",
        "Throttled", "TopicConfigAltered", "PartitionsCreated", "RecordsDeleted", "TopicConfigsDescribed",
        "HandshakeResult", "JoinGroupResult", "SyncGroupResult", "HeartbeatResult", "LeaveGroupResult",
        "PublishedBatch", "IdempotentPublishedBatch",
    ]

    /// The variant indices this codec encodes and decodes.
    public static let implementedVariantIndices: Set<UInt32> = [
        0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 13, 17, 18, 19, 20, 21, 30, 35, 40, 41,
    ]

    /// The variant index written first in the payload.
    public var variantIndex: UInt32 {
        switch self {
        case .authenticated: 0
        case .scramServerFirst: 1
        case .scramServerFinal: 2
        case .published: 3
        case .messages: 4
        case .topicCreated: 5
        case .topics: 6
        case .offsetCommitted: 8
        case .offset: 9
        case .metadata: 10
        case .pong: 12
        case .offsetBounds: 13
        case .offsetForTimestamp: 17
        case .error: 18
        case .ok: 19
        case .producerIDInitialized: 20
        case .idempotentPublished: 21
        case .throttled: 30
        case .handshakeResult: 35
        case .publishedBatch: 40
        case .idempotentPublishedBatch: 41
        }
    }

    /// The Rust variant name, such as `PublishedBatch`.
    public var variantName: String { Self.variantNames[Int(variantIndex)] }
}

// MARK: - Encoding

extension RivvenResponse {
    /// Appends this response as a whole frame (header, payload, `L` patched in place).
    ///
    /// - Returns: `L`.
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
        case .authenticated(let sessionID, let expiresIn):
            W.writeString(sessionID, into: &out)
            W.writeU64(expiresIn, into: &out)
        case .scramServerFirst(let message):
            W.writeBytes(message, into: &out)
        case .scramServerFinal(let message, let sessionID, let expiresIn):
            W.writeBytes(message, into: &out)
            W.writeOptionalString(sessionID, into: &out)
            W.writeOptionalU64(expiresIn, into: &out)
        case .published(let offset, let partition):
            W.writeU64(offset, into: &out)
            W.writeU32(partition, into: &out)
        case .messages(let messages):
            W.writeCount(messages.count, into: &out)
            for message in messages {
                W.writeU64(message.offset, into: &out)
                W.writeU32(message.partition, into: &out)
                W.writeOptionalBytes(message.key, into: &out)
                W.writeBytes(message.value, into: &out)
                W.writeI64(message.timestamp, into: &out)
                W.writeCount(message.headers.count, into: &out)
                for header in message.headers {
                    W.writeString(header.name, into: &out)
                    W.writeBytes(header.value, into: &out)
                }
            }
        case .topicCreated(let name, let partitions), .metadata(let name, let partitions):
            W.writeString(name, into: &out)
            W.writeU32(partitions, into: &out)
        case .topics(let topics):
            W.writeCount(topics.count, into: &out)
            for topic in topics { W.writeString(topic, into: &out) }
        case .offsetCommitted, .pong, .ok:
            break
        case .offset(let offset), .offsetForTimestamp(let offset):
            W.writeOptionalU64(offset, into: &out)
        case .offsetBounds(let earliest, let latest):
            W.writeU64(earliest, into: &out)
            W.writeU64(latest, into: &out)
        case .error(let message):
            W.writeString(message, into: &out)
        case .producerIDInitialized(let producerID, let producerEpoch):
            W.writeU64(producerID, into: &out)
            W.writeU16(producerEpoch, into: &out)
        case .idempotentPublished(let offset, let partition, let duplicate):
            W.writeU64(offset, into: &out)
            W.writeU32(partition, into: &out)
            W.writeBool(duplicate, into: &out)
        case .throttled(let throttleTimeMs, let quotaType, let entity):
            W.writeU64(throttleTimeMs, into: &out)
            W.writeString(quotaType, into: &out)
            W.writeString(entity, into: &out)
        case .handshakeResult(let serverVersion, let compatible, let message):
            W.writeU32(serverVersion, into: &out)
            W.writeBool(compatible, into: &out)
            W.writeString(message, into: &out)
        case .publishedBatch(let baseOffset, let partition, let recordCount):
            W.writeU64(baseOffset, into: &out)
            W.writeU32(partition, into: &out)
            W.writeU32(recordCount, into: &out)
        case .idempotentPublishedBatch(let baseOffset, let partition, let recordCount, let duplicate):
            W.writeU64(baseOffset, into: &out)
            W.writeU32(partition, into: &out)
            W.writeU32(recordCount, into: &out)
            W.writeBool(duplicate, into: &out)
        }
    }
}

// MARK: - Decoding

extension RivvenResponse {
    /// Decodes a frame's payload (checking its format byte first). Positions in errors count from the frame's length
    /// prefix, as if the payload started at byte 9.
    public static func decode(_ frame: RivvenFrame) throws(RivvenCodecError) -> RivvenResponse {
        try frame.checkFormat()
        return try decode(payload: frame.payload, positionBase: RivvenFrame.headerLength)
    }

    /// Decodes exactly one whole frame (length prefix included) into its correlation id and response.
    public static func decodeFrame(
        _ bytes: [UInt8],
        maxFrameLength: Int = RivvenLimits.maxResponseFrameLength
    ) throws(RivvenCodecError) -> (correlationID: UInt32, response: RivvenResponse) {
        let frame = try RivvenFrame.parse(bytes, maxFrameLength: maxFrameLength)
        return (frame.correlationID, try decode(frame))
    }

    /// Decodes a payload that must hold exactly one response and nothing after it.
    public static func decode(payload: ArraySlice<UInt8>, positionBase: Int = 0) throws(RivvenCodecError)
        -> RivvenResponse
    {
        try PostcardReader.withReader(over: payload, positionBase: positionBase) { (reader) throws(RivvenCodecError) in
            let response = try decode(from: &reader)
            try reader.expectEnd()
            return response
        }
    }

    /// Decodes a payload in borrowed memory that must hold exactly one response and nothing after it.
    public static func decode(payload: UnsafeRawBufferPointer, positionBase: Int = 0) throws(RivvenCodecError)
        -> RivvenResponse
    {
        var reader = PostcardReader(unsafeBytes: payload, positionBase: positionBase)
        let response = try decode(from: &reader)
        try reader.expectEnd()
        return response
    }

    /// Reads one response (variant index, then fields) and leaves the reader after it.
    ///
    /// The client's bounds are enforced as ``RivvenCodecError/Code/limitExceeded``: at most 100 000 messages in
    /// `Messages`, at most 10 000 names of ≤ 256 bytes in `Topics`, an `Error` text of at most 10 MiB.
    public static func decode(from reader: inout PostcardReader) throws(RivvenCodecError) -> RivvenResponse {
        let indexPosition = reader.position
        let index = try reader.readVariantIndex()
        switch index {
        case 0:
            return .authenticated(sessionID: try reader.readString(), expiresIn: try reader.readU64())
        case 1:
            return .scramServerFirst(message: try reader.readBytes())
        case 2:
            return .scramServerFinal(
                message: try reader.readBytes(),
                sessionID: try reader.readOptionalString(),
                expiresIn: try reader.readOptionalU64()
            )
        case 3:
            return .published(offset: try reader.readU64(), partition: try reader.readU32())
        case 4:
            let count = try reader.readCount(limit: RivvenLimits.maxMessagesPerResponse)
            var messages: [RivvenMessage] = []
            messages.reserveCapacity(count)
            for _ in 0..<count {
                messages.append(try readMessage(&reader))
            }
            return .messages(messages)
        case 5:
            return .topicCreated(name: try reader.readString(), partitions: try reader.readU32())
        case 6:
            let count = try reader.readCount(limit: RivvenLimits.maxListLength)
            var topics: [String] = []
            topics.reserveCapacity(count)
            for _ in 0..<count {
                topics.append(try reader.readString(limit: RivvenLimits.maxNameLength))
            }
            return .topics(topics)
        case 8:
            return .offsetCommitted
        case 9:
            return .offset(try reader.readOptionalU64())
        case 10:
            return .metadata(name: try reader.readString(), partitions: try reader.readU32())
        case 12:
            return .pong
        case 13:
            return .offsetBounds(earliest: try reader.readU64(), latest: try reader.readU64())
        case 17:
            return .offsetForTimestamp(try reader.readOptionalU64())
        case 18:
            return .error(message: try reader.readString(limit: RivvenLimits.maxRequestFrameLength))
        case 19:
            return .ok
        case 20:
            return .producerIDInitialized(producerID: try reader.readU64(), producerEpoch: try reader.readU16())
        case 21:
            return .idempotentPublished(
                offset: try reader.readU64(),
                partition: try reader.readU32(),
                duplicate: try reader.readBool()
            )
        case 30:
            return .throttled(
                throttleTimeMs: try reader.readU64(),
                quotaType: try reader.readString(),
                entity: try reader.readString()
            )
        case 35:
            return .handshakeResult(
                serverVersion: try reader.readU32(),
                compatible: try reader.readBool(),
                message: try reader.readString()
            )
        case 40:
            return .publishedBatch(
                baseOffset: try reader.readU64(),
                partition: try reader.readU32(),
                recordCount: try reader.readU32()
            )
        case 41:
            return .idempotentPublishedBatch(
                baseOffset: try reader.readU64(),
                partition: try reader.readU32(),
                recordCount: try reader.readU32(),
                duplicate: try reader.readBool()
            )
        case _ where index < variantNames.count:
            throw RivvenCodecError(.unsupportedVariant, at: indexPosition, value: UInt64(index))
        default:
            throw RivvenCodecError(.unknownVariant, at: indexPosition, value: UInt64(index))
        }
    }

    private static func readMessage(_ reader: inout PostcardReader) throws(RivvenCodecError) -> RivvenMessage {
        let offset = try reader.readU64()
        let partition = try reader.readU32()
        let key = try reader.readOptionalBytes()
        let value = try reader.readBytes()
        let timestamp = try reader.readI64()
        let headerCount = try reader.readCount()
        var headers: [RivvenMessage.Header] = []
        headers.reserveCapacity(headerCount)
        for _ in 0..<headerCount {
            let name = try reader.readString()
            headers.append(RivvenMessage.Header(name: name, value: try reader.readBytes()))
        }
        return RivvenMessage(
            offset: offset,
            partition: partition,
            key: key,
            value: value,
            timestamp: timestamp,
            headers: headers
        )
    }
}
