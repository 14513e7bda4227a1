import Yams

/// A configuration file as a YAML node tree, made ready to be decoded by `YAMLDecoder`.
///
/// Preparing the tree does what must happen before typed decoding:
/// - `${VAR}` and `${VAR:-default}` are expanded in every scalar value, so `keep_alive_secs: ${KA:-60}` decodes
///   as a number. A variable that is not set and has no default is a problem kept in ``deferredProblems`` and
///   reported only when the value is read: sections nobody reads (rivven-connect's `sinks`) may name variables
///   this process does not have.
/// - `<<:` merge keys are applied (explicit keys win, then the first merged mapping) and every key becomes a plain
///   string, so decoding sees each mapping's final keys. A bad merge key or a key that is not a string is a
///   problem of its mapping, reported when the mapping is read.
/// - The position of every key and value is kept by path, so problems can be sorted into document order.
struct ConfigurationDocument {
    /// The prepared tree.
    private(set) var root: Node = ""
    /// Where each value starts.
    private(set) var valueMarks: [ConfigPath: Mark] = [:]
    /// Where each mapping key starts.
    private(set) var keyMarks: [ConfigPath: Mark] = [:]
    /// Problems of the value or mapping at a path, for when it is read.
    private(set) var deferredProblems: [ConfigPath: [ConfigurationProblemCollector.Located]] = [:]
    /// The text of each scalar that `${VAR}` expansion changed, as written.
    private(set) var originalTexts: [ConfigPath: String] = [:]

    private let environment: [String: String]

    private init(environment: [String: String]) {
        self.environment = environment
    }

    /// Parses `yaml` and prepares its tree; the failure has the one problem with the file as a whole (not YAML,
    /// empty, not a mapping).
    static func parse(
        yaml: String,
        environment: [String: String]
    ) -> Result<ConfigurationDocument, ConfigurationError> {
        func fileProblem(_ message: String) -> Result<ConfigurationDocument, ConfigurationError> {
            let problem = ConfigurationError.Problem(path: ConfigurationError.Problem.fileLevel, message: message)
            return .failure(ConfigurationError(problems: [problem]))
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            return fileProblem("not valid YAML: " + describe(error))
        } catch {
            return fileProblem("not valid YAML: \(error)")
        }
        guard let node, !node.isConfigNull else {
            return fileProblem("the file is empty; " + ConfigurationFile.shapeHelp)
        }
        guard case .mapping = node else {
            return fileProblem(
                "expected a mapping at the top level, got \(node.configDescription); " + ConfigurationFile.shapeHelp
            )
        }
        var document = ConfigurationDocument(environment: environment)
        document.root = document.prepare(node, at: .root)
        return .success(document)
    }

    /// Where a problem about the value at `path` points: the value (or its key with `pointingAtKey`); for a
    /// value that is absent, the mapping that should hold it.
    func mark(of path: ConfigPath, pointingAtKey: Bool) -> Mark? {
        if pointingAtKey, let mark = keyMarks[path] { return mark }
        var current: ConfigPath? = path
        while let candidate = current {
            if let mark = valueMarks[candidate] ?? keyMarks[candidate] { return mark }
            current = candidate.parent
        }
        return nil
    }

    // MARK: Preparing the tree

    private mutating func prepare(_ node: Node, at path: ConfigPath) -> Node {
        if let mark = node.mark { valueMarks[path] = mark }
        switch node {
        case .scalar(let scalar):
            return .scalar(expand(scalar, at: path))
        case .mapping(let mapping):
            var pairs: [(Node, Node)] = []
            for entry in entries(of: mapping, at: path) {
                let entryPath = path.appending(entry.key)
                if let mark = entry.keyMark { keyMarks[entryPath] = mark }
                pairs.append((Self.key(entry.key), prepare(entry.value, at: entryPath)))
            }
            // Keys are looked up through the mapping's tag; with the basic resolver every key is a plain string
            // (`1`, `true` and a quoted `"1"` alike), as configuration keys and source names are.
            return .mapping(Node.Mapping(pairs, Tag(.implicit, .basic), mapping.style, mapping.mark))
        case .sequence(let sequence):
            let elements = sequence.enumerated().map { index, element in
                prepare(element, at: path.appending(index: index))
            }
            return .sequence(Node.Sequence(elements, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// A mapping key as a plain string.
    private static func key(_ text: String) -> Node {
        .scalar(Node.Scalar(text, Tag(.str), .plain))
    }

    /// `scalar` with `${VAR}` references expanded. An expanded value is a string, never null, so it is quoted.
    private mutating func expand(_ scalar: Node.Scalar, at path: ConfigPath) -> Node.Scalar {
        let (text, missing) = EnvironmentExpansion.expand(scalar.string, environment: environment)
        for name in missing {
            deferProblem(
                at: path,
                path.problemPath,
                "environment variable `\(name)` is not set and has no default",
                scalar.mark
            )
        }
        guard missing.isEmpty, text != scalar.string else { return scalar }
        originalTexts[path] = scalar.string
        return Node.Scalar(text, Tag(.str), .doubleQuoted, scalar.mark)
    }

    /// Keeps a problem of the value or mapping at `path` for when it is read.
    private mutating func deferProblem(at path: ConfigPath, _ problemPath: String, _ message: String, _ mark: Mark?) {
        let problem = ConfigurationError.Problem(path: problemPath, message: message)
        deferredProblems[path, default: []].append(ConfigurationProblemCollector.Located(problem: problem, mark: mark))
    }

    private struct Entry {
        var key: String
        var keyMark: Mark?
        var value: Node
    }

    /// The pairs of `mapping`: explicit ones first, then those brought in by `<<:` merge keys (the first merged
    /// mapping wins). Keys that are not scalars are dropped, and so are bad merge keys; both are problems of the
    /// mapping at `path`.
    private mutating func entries(of mapping: Node.Mapping, at path: ConfigPath) -> [Entry] {
        let mergePath = path.appending("<<").dotted
        let mergeHelp = "a merge key `<<` takes a mapping or a list of mappings"
        var explicit: [Entry] = []
        var merged: [Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                deferProblem(
                    at: path,
                    path.problemPath,
                    "keys must be plain strings, got \(keyNode.configDescription)",
                    keyNode.mark
                )
                continue
            }
            guard keyScalar.string == "<<" && keyScalar.style == .plain else {
                explicit.append(Entry(key: keyScalar.string, keyMark: keyNode.mark, value: value))
                continue
            }
            let sources: [Node]
            switch value {
            case .mapping: sources = [value]
            case .sequence(let sequence): sources = Array(sequence)
            default: sources = []
            }
            if sources.isEmpty { deferProblem(at: path, mergePath, mergeHelp, value.mark) }
            for source in sources {
                guard case .mapping(let sourceMapping) = source else {
                    deferProblem(at: path, mergePath, mergeHelp, source.mark)
                    continue
                }
                for entry in entries(of: sourceMapping, at: path) where !merged.contains(where: { $0.key == entry.key })
                {
                    merged.append(entry)
                }
            }
        }
        return explicit + merged.filter { entry in !explicit.contains(where: { $0.key == entry.key }) }
    }

    /// A one-line description of a Yams error with its line and column (never the whole document).
    static func describe(_ error: YamlError) -> String {
        func place(_ mark: Mark) -> String { "line \(mark.line), column \(mark.column)" }
        func withContext(_ context: YamlError.Context?, _ problem: String) -> String {
            guard let context else { return problem }
            return "\(problem) (\(context.text) at \(place(context.mark)))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return "\(place(mark)): \(withContext(context, problem))"
        case .reader(let problem, let offset, _, _):
            return offset.map { "\(problem) at byte \($0)" } ?? problem
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
            return "\(place(context.mark)): duplicate key \(keys) in a mapping"
        default:
            return String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error"
        }
    }
}

extension Node {
    /// `true` for a plain `~`, `null` or empty scalar.
    var isConfigNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How the node is shown in a message: its text for a scalar (shortened), else its kind.
    var configDescription: String {
        switch self {
        case .scalar(let scalar): ConfigText.show(scalar.string)
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}
