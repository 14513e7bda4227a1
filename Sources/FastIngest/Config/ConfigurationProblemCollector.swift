import Yams

extension CodingUserInfoKey {
    /// The ``ConfigurationProblemCollector`` that configuration `init(from:)`s report into.
    static let configurationProblems = CodingUserInfoKey(rawValue: "FastIngest.configurationProblems")!
    /// The host name (`String`) that derived MQTT client ids are made from.
    static let configurationHostName = CodingUserInfoKey(rawValue: "FastIngest.configurationHostName")!
}

/// Thrown by a configuration `init(from:)` when the section cannot be made at all (a required value is missing
/// or invalid). Its problems are in the collector already; the holder carries on without the section.
struct InvalidConfigurationSection: Error {}

/// Every problem found while decoding a configuration file, so one decoding pass finds them all.
///
/// A collector travels in `Decoder.userInfo` under ``CodingUserInfoKey/configurationProblems``. The
/// configuration types' `init(from:)`s report each bad field here, with its path, and carry on with the
/// field's default instead of throwing. With the file's ``ConfigurationDocument`` attached, every problem gets
/// the position of its key or value, so ``problems`` come out in document order.
final class ConfigurationProblemCollector {
    /// A problem and where it is in the document.
    struct Located {
        var problem: ConfigurationError.Problem
        var mark: Mark?
    }

    private let document: ConfigurationDocument?
    private var found: [(located: Located, sequence: Int)] = []
    /// Paths whose deferred problems were reported already.
    private var reportedDeferred: Set<ConfigPath> = []

    init(document: ConfigurationDocument? = nil) {
        self.document = document
    }

    /// The collector a configuration `init(from:)` reports into: the decoder's, or a new one it owns when the
    /// type is decoded on its own (then the type throws ``ConfigurationError`` at the end if there were problems).
    static func collector(for decoder: any Decoder) -> (collector: ConfigurationProblemCollector, owned: Bool) {
        if let shared = decoder.userInfo[.configurationProblems] as? ConfigurationProblemCollector {
            return (shared, false)
        }
        return (ConfigurationProblemCollector(), true)
    }

    var isEmpty: Bool { found.isEmpty }

    /// The problems in document order; problems at the same place, or with no place, keep the order they were
    /// found in, and those with no place come last.
    var problems: [ConfigurationError.Problem] {
        found.sorted { lhs, rhs in
            let left = (lhs.located.mark?.line ?? Int.max, lhs.located.mark?.column ?? Int.max, lhs.sequence)
            let right = (rhs.located.mark?.line ?? Int.max, rhs.located.mark?.column ?? Int.max, rhs.sequence)
            return left < right
        }
        .map(\.located.problem)
    }

    // MARK: Reporting

    func record(_ located: Located) {
        found.append((located, found.count))
    }

    /// Reports `message` about the value at `path` (pointing at its key with `pointingAtKey`, as for unknown keys);
    /// a problem with the root is one with the file as a whole.
    func report(_ path: ConfigPath, _ message: String, pointingAtKey: Bool = false) {
        report(path.problemPath, message, at: path, pointingAtKey: pointingAtKey)
    }

    /// Reports `message` under `problemPath`, placed at the value (or key) at `location`; `location: nil` for a
    /// problem with no single place, such as a conflict between two sections.
    func report(_ problemPath: String, _ message: String, at location: ConfigPath?, pointingAtKey: Bool = false) {
        let mark = location.flatMap { document?.mark(of: $0, pointingAtKey: pointingAtKey) }
        record(Located(problem: ConfigurationError.Problem(path: problemPath, message: message), mark: mark))
    }

    /// Adds problems that have no place in the document: those of a section decoded with a collector of its own,
    /// or of checks between sections.
    func add(_ problems: [ConfigurationError.Problem]) {
        for problem in problems { record(Located(problem: problem, mark: nil)) }
    }

    /// Reports the problems the document kept for the value at `path` (a missing `${VAR}`, a bad `<<:` merge
    /// key), once. Returns `true` when there are any: then the value itself is unusable.
    @discardableResult
    func reportDeferred(at path: ConfigPath) -> Bool {
        guard let deferred = document?.deferredProblems[path], !deferred.isEmpty else { return false }
        if reportedDeferred.insert(path).inserted {
            for located in deferred { record(located) }
        }
        return true
    }

    /// The scalar at `path` as written, before `${VAR}` expansion, when expansion changed it.
    private func originalText(at path: ConfigPath) -> String? {
        document?.originalTexts[path]
    }

    /// How the value at `path` is shown when it has the wrong kind: a scalar's text as written (before `${VAR}`
    /// expansion), shortened, else its kind.
    func describe(_ value: ConfigValue?, at path: ConfigPath) -> String {
        switch value {
        case .scalar(let text): ConfigText.show(originalText(at: path) ?? text)
        case .list: "a list"
        case .mapping: "a mapping"
        case .null, nil: "an empty value"
        }
    }
}
