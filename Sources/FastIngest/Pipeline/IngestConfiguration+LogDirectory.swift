extension IngestConfiguration {
    /// Where `source` keeps its local log: `log.dir` itself for a single source (a connector file), else
    /// `log.dir/NAME` — each source has its own log, so what the Rivven forwarder reads carries one source's records.
    public func logDirectory(for source: SourceConfiguration) -> String {
        guard sources.count > 1 else { return log.dir }
        return log.dir + "/" + Self.directoryName(source.name)
    }

    /// `name` with every character outside `[A-Za-z0-9._-]` replaced by `_` (and never `.` or `..`).
    static func directoryName(_ name: String) -> String {
        var result = String(
            name.unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": Character(scalar)
                default: "_"
                }
            }
        )
        if result.isEmpty || result == "." || result == ".." { result = "_" + result }
        return result
    }
}
