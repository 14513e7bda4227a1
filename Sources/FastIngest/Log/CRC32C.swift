import CURing

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI (RFC 3720), ext4 and Kafka's record
/// batches, computed in software eight bytes at a time ("slice-by-8").
///
/// On x86-64 CPUs with SSE4.2 the `crc32` instruction does the work (a few lines of C in CURing's shim, probed once);
/// elsewhere, software slice-by-8 (about 1 GB/s per core with `-O`). Every record is checksummed when written and
/// again when read, so on the forwarding path this runs twice per message.
public enum CRC32C {
    /// Whether the SSE4.2 instruction is used.
    public static let usesHardware = CURing_crc32c_hardware_available() != 0

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        update(0, bytes)
    }

    /// The checksum of the bytes already checked (whose checksum is `crc`) followed by `bytes`:
    /// `update(checksum(a), b) == checksum(a + b)`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        if usesHardware { return CURing_crc32c_update(crc, base, bytes.count) }
        return softwareUpdate(crc, bytes)
    }

    /// The slice-by-8 software implementation (also the reference the tests compare the hardware path with).
    static func softwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        var state = ~crc
        let count = bytes.count
        var index = 0
        table.withUnsafeBufferPointer { t in
            // Leading bytes until the pointer is 8-aligned, so the 8-byte loads below are aligned.
            while index < count && (Int(bitPattern: base + index) & 7) != 0 {
                state = t[Int((state ^ UInt32(base.load(fromByteOffset: index, as: UInt8.self))) & 0xFF)] ^ (state >> 8)
                index += 1
            }
            while count - index >= 8 {
                let word = UInt64(littleEndian: base.load(fromByteOffset: index, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ state
                let high = UInt32(truncatingIfNeeded: word >> 32)
                state =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                index += 8
            }
            while index < count {
                state = t[Int((state ^ UInt32(base.load(fromByteOffset: index, as: UInt8.self))) & 0xFF)] ^ (state >> 8)
                index += 1
            }
        }
        return ~state
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Eight 256-entry tables: `table[k * 256 + b]` is the CRC contribution of byte `b` followed by `k` zero bytes.
    static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
            table[byte] = crc
        }
        for byte in 0..<256 {
            var crc = table[byte]
            for slice in 1..<8 {
                crc = table[Int(crc & 0xFF)] ^ (crc >> 8)
                table[slice * 256 + byte] = crc
            }
        }
        return table
    }()
}
