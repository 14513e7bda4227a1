extension BufferConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case capacityMessages = "capacity_messages"
        case capacityBytes = "capacity_bytes"
        case whenFull = "when_full"
    }

    /// Decodes `buffer:`; a bad key is reported and keeps its default.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        if let capacity = container.integer(.capacityMessages, in: 1024...(1 << 24)) {
            if capacity & (capacity - 1) == 0 {
                capacityMessages = capacity
            } else {
                var power = 1024
                while power < capacity { power <<= 1 }
                container.report(
                    .capacityMessages,
                    "\(capacity) is not a power of two (such as \(power >> 1) or \(power))"
                )
            }
        }
        capacityBytes = container.size(.capacityBytes, in: (1 << 20)...(64 << 30)) ?? capacityBytes
        whenFull =
            container.choice(
                .whenFull,
                ["block": WhenFull.block, "drop_oldest": .dropOldest, "drop_newest": .dropNewest]
            ) ?? whenFull
        try container.finish()
    }
}
