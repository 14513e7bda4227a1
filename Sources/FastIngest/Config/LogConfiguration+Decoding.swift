extension LogConfiguration: Decodable {
    enum CodingKeys: String, ConfigurationKey {
        case dir
        case segmentBytes = "segment_bytes"
        case maxBytes = "max_bytes"
        case fsync
    }

    /// Decodes `log:`; a bad key is reported and keeps its default.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try ConfigContainer(decoder, keyedBy: CodingKeys.self)
        dir = container.string(.dir, validate: { $0.isEmpty ? "cannot be empty" : nil }) ?? dir
        segmentBytes = container.size(.segmentBytes, in: (1 << 20)...(1 << 30)) ?? segmentBytes
        if let maxBytes = container.size(.maxBytes, in: (1 << 20)...Int.max) {
            if maxBytes < segmentBytes {
                container.report(
                    .maxBytes,
                    "\(ByteSize.format(maxBytes)) is below segment_bytes (\(ByteSize.format(segmentBytes)))"
                )
            } else {
                self.maxBytes = maxBytes
            }
        }
        fsync = container.parsed(.fsync, FsyncPolicy.parse(configText:)) ?? fsync
        try container.finish()
    }
}

extension FsyncPolicy {
    /// Parses `batch`, `never` or `interval:MS` (MS in 1…60000), in any case (the inverse of ``description``).
    static func parse(configText text: String) -> Result<FsyncPolicy, ConfigValueProblem> {
        let trimmed = text.trimmingSpaces
        switch trimmed.lowercased() {
        case "batch": return .success(.batch)
        case "never": return .success(.never)
        default: break
        }
        if trimmed.lowercased().hasPrefix("interval:") {
            let number = String(trimmed.dropFirst("interval:".count)).trimmingSpaces
            guard let milliseconds = ConfigText.parseInteger(number) else {
                return .failure(ConfigValueProblem("`interval:MS` needs milliseconds, got `\(number)`"))
            }
            guard (1...60_000).contains(milliseconds) else {
                return .failure(ConfigValueProblem("interval \(milliseconds) ms is out of the range 1…60000"))
            }
            return .success(.interval(milliseconds: milliseconds))
        }
        return .failure(
            ConfigValueProblem("expected `batch`, `never` or `interval:MS`, got \(ConfigText.show(text))")
        )
    }
}
