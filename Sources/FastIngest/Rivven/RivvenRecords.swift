/// One record of a `PublishBatch` or `IdempotentPublishBatch` (Rust `BatchRecord`): `key: option<bytes>;
/// value: bytes`. There is no timestamp and there are no headers: the broker stamps the append time.
public struct RivvenBatchRecord: Sendable, Hashable {
    /// The key, or nil for none (an empty key is a key: `01 00`).
    public var key: [UInt8]?
    /// The value.
    public var value: [UInt8]

    /// Creates a record.
    public init(key: [UInt8]? = nil, value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// One stored message in a `Messages` response (Rust `MessageData`): `offset: u64; partition: u32;
/// key: option<bytes>; value: bytes; timestamp: i64; headers: vec<(string, bytes)>`.
public struct RivvenMessage: Sendable, Hashable {
    /// A message header: a name and a byte value.
    public struct Header: Sendable, Hashable {
        /// The header name.
        public var name: String
        /// The header value.
        public var value: [UInt8]

        /// Creates a header.
        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    /// The message's offset in its partition.
    public var offset: UInt64
    /// The partition.
    public var partition: UInt32
    /// The key, or nil for none.
    public var key: [UInt8]?
    /// The value.
    public var value: [UInt8]
    /// The append time, milliseconds since the Unix epoch.
    public var timestamp: Int64
    /// The headers, in order.
    public var headers: [Header]

    /// Creates a message.
    public init(
        offset: UInt64,
        partition: UInt32,
        key: [UInt8]? = nil,
        value: [UInt8],
        timestamp: Int64,
        headers: [Header] = []
    ) {
        self.offset = offset
        self.partition = partition
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers
    }
}

/// The idempotence fields of an `IdempotentPublishBatch` (WIRE.md §7.7, §11): who sends, and the sequence number of
/// the batch's first record (record *i* has `baseSequence + i`).
///
/// Resending a batch after a lost reply must reuse the same `baseSequence`; the broker then answers
/// `IdempotentPublishedBatch{duplicate: true}` instead of storing it twice.
public struct RivvenIdempotence: Sendable, Hashable {
    /// The producer id from `ProducerIdInitialized`.
    public var producerID: UInt64
    /// The producer epoch from `ProducerIdInitialized`.
    public var producerEpoch: UInt16
    /// The sequence number of the batch's first record, counted per (producer id, partition number) from 0.
    public var baseSequence: Int32

    /// Creates the idempotence fields of a batch.
    public init(producerID: UInt64, producerEpoch: UInt16, baseSequence: Int32) {
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
    }
}
