import FastIngest
import Glibc
import Logging

/// A swift-log handler writing one line per record to stderr, unbuffered, as text or JSON.
struct StderrLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String, format: LogFormat) {
        self.label = label
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let time = timestamp()
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level.rawValue.uppercased()) \(event.message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(merged[key]!)"
            }
        case .json:
            var fields: [(String, JSONValue)] = [
                ("ts", .string(time)), ("level", .string(event.level.rawValue)), ("logger", .string(label)),
                ("msg", .string("\(event.message)")),
            ]
            for key in merged.keys.sorted() { fields.append((key, .string("\(merged[key]!)"))) }
            line = JSONValue.object(fields).compact
        }
        writeStandardError(line)
    }

    private func timestamp() -> String {
        var out: [UInt8] = []
        RFC3339.append(WallClockTime.now(), zulu: true, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
