/// The official producer's client-side partition choice for keyed records (WIRE.md §4 item 3): Kafka's murmur2
/// (seed `0x9747b28c`) of the key, made non-negative with `& 0x7fffffff`, modulo the partition count. The broker
/// uses the same function for a keyed `Publish` without a partition.
public enum RivvenPartitioner {
    /// The partition for `key` among `partitionCount` partitions (`partitionCount` ≥ 1).
    public static func partition(forKey key: UnsafeRawBufferPointer, partitionCount: UInt32) -> UInt32 {
        precondition(partitionCount > 0, "RivvenPartitioner: no partitions")
        return (murmur2(key) & 0x7FFF_FFFF) % partitionCount
    }

    /// The partition for `key` among `partitionCount` partitions (`partitionCount` ≥ 1).
    public static func partition(forKey key: [UInt8], partitionCount: UInt32) -> UInt32 {
        key.withUnsafeBytes { partition(forKey: $0, partitionCount: partitionCount) }
    }

    /// Kafka's 32-bit murmur2 hash: 4-byte little-endian blocks, then the 1–3 tail bytes, then the final mix.
    public static func murmur2(_ data: UnsafeRawBufferPointer) -> UInt32 {
        let multiplier: UInt32 = 0x5BD1_E995
        let count = data.count
        var hash: UInt32 = 0x9747_B28C ^ UInt32(truncatingIfNeeded: count)
        var index = 0
        while index + 4 <= count {
            var block =
                UInt32(data[index]) | UInt32(data[index + 1]) << 8 | UInt32(data[index + 2]) << 16
                | UInt32(data[index + 3]) << 24
            block &*= multiplier
            block ^= block >> 24
            block &*= multiplier
            hash &*= multiplier
            hash ^= block
            index += 4
        }
        let tail = count - index
        if tail == 3 { hash ^= UInt32(data[index + 2]) << 16 }
        if tail >= 2 { hash ^= UInt32(data[index + 1]) << 8 }
        if tail >= 1 {
            hash ^= UInt32(data[index])
            hash &*= multiplier
        }
        hash ^= hash >> 13
        hash &*= multiplier
        hash ^= hash >> 15
        return hash
    }
}
