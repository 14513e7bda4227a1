import Glibc
import Yams

extension IngestConfiguration {
    /// The environment of this process (`environ`), for `${VAR}` expansion.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let pair = String(cString: entry)
            if let equals = pair.firstIndex(of: "=") {
                result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// The host name of this machine (`gethostname`), which the derived client id depends on.
    public static func currentHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Loads and validates a configuration file.
    ///
    /// - Parameters:
    ///   - path: the YAML file.
    ///   - environment: the variables for `${VAR}` expansion (default: this process's environment).
    ///   - hostName: the host name for derived client ids (default: this machine's).
    /// - Throws: ``ConfigurationError`` with every problem of the file (an unreadable file and a file that is
    ///   not YAML are problems too), with ``ConfigurationError/file`` set to `path`.
    public static func load(
        path: String,
        environment: [String: String] = processEnvironment(),
        hostName: String = currentHostName()
    ) throws(ConfigurationError) -> IngestConfiguration {
        let text: String
        switch FileReader.readText(path) {
        case .success(let contents): text = contents
        case .failure(let failure):
            throw ConfigurationError(
                file: path,
                problems: [
                    ConfigurationError.Problem(path: ConfigurationError.Problem.fileLevel, message: failure.message)
                ]
            )
        }
        do {
            return try parse(yaml: text, environment: environment, hostName: hostName)
        } catch {
            var error = error
            error.file = path
            throw error
        }
    }

    /// Parses and validates configuration text.
    ///
    /// - Throws: ``ConfigurationError`` with every problem, in document order.
    public static func parse(
        yaml: String,
        environment: [String: String],
        hostName: String
    ) throws(ConfigurationError) -> IngestConfiguration {
        var loader = ConfigurationLoader(environment: environment, hostName: hostName)
        let result = loader.load(yaml: yaml)
        if let result, !loader.reader.hasProblems { return result }
        var problems = loader.reader.problems
        if problems.isEmpty {
            // Every path that returns nil reports why; this keeps a bug from turning into silence.
            problems = [ConfigurationError.Problem(path: ConfigurationError.Problem.fileLevel, message: "invalid")]
        }
        throw ConfigurationError(problems: problems)
    }
}

/// Reads a whole file as UTF-8 text, with an `errno` reason on failure.
enum FileReader {
    struct Failure: Error {
        var message: String
    }

    static func readText(_ path: String) -> Result<String, Failure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return .failure(Failure(message: "cannot open `\(path)`: \(String(cString: strerror(errno)))"))
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Failure(message: "cannot read `\(path)`: \(String(cString: strerror(errno)))"))
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            if bytes.count > 16 << 20 {
                return .failure(Failure(message: "`\(path)` is larger than 16 MiB; that is not a configuration file"))
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(Failure(message: "`\(path)` is not UTF-8 text, so it is not a YAML configuration file"))
        }
        return .success(text)
    }

    /// `nil` when `path` is a readable regular file, else the reason.
    static func readableFileProblem(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return "cannot use `\(path)`: \(String(cString: strerror(errno)))"
        }
        if (status.st_mode & S_IFMT) == S_IFDIR { return "`\(path)` is a directory, not a file" }
        guard access(path, R_OK) == 0 else {
            return "cannot read `\(path)`: \(String(cString: strerror(errno)))"
        }
        return nil
    }
}

/// Turns YAML text into an ``IngestConfiguration``, collecting every problem in ``reader``.
struct ConfigurationLoader {
    var reader: ConfigReader
    let hostName: String

    static let mqttConnectorNames = ["mqtt-source", "mqtt"]
    /// Keys that only a rivven-connect file has.
    static let rivvenConnectKeys = ["version", "sources", "sinks", "settings", "distributed"]
    /// Keys that only a connector file has.
    static let connectorKeys = ["type", "config", "topic", "name"]
    static let shapeHelp =
        "expected a connector file (`type: mqtt-source`, `topic`, `config`) or a rivven-connect file (`sources:`)"

    init(environment: [String: String], hostName: String) {
        self.reader = ConfigReader(environment: environment)
        self.hostName = hostName
    }

    private mutating func fileProblem(_ message: String, _ mark: Mark? = nil) {
        reader.report(ConfigurationError.Problem.fileLevel, mark, message)
    }

    mutating func load(yaml: String) -> IngestConfiguration? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            fileProblem("not valid YAML: " + Self.describe(error))
            return nil
        } catch {
            fileProblem("not valid YAML: \(error)")
            return nil
        }
        guard let node, !ConfigReader.isNull(node) else {
            fileProblem("the file is empty; " + Self.shapeHelp)
            return nil
        }
        guard case .mapping = node else {
            fileProblem("expected a mapping at the top level, got \(ConfigReader.describe(node)); " + Self.shapeHelp)
            return nil
        }
        guard let root = reader.mapping(node, path: "") else { return nil }

        if root.contains("type") || root.contains("config") {
            return loadConnectorFile(root)
        }
        if Self.rivvenConnectKeys.contains(where: root.contains) {
            return loadRivvenConnectFile(root)
        }
        if root.contains("topic") || root.contains("name") {
            return loadConnectorFile(root)
        }
        fileProblem("cannot tell the kind of file: " + Self.shapeHelp, root.mark)
        return nil
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

    // MARK: Shapes

    private mutating func loadConnectorFile(_ root: ConfigMapping) -> IngestConfiguration? {
        let type = reader.string(root, "type")
        if type == nil, !root.has("type") {
            reader.report(root, "type", "required (`mqtt-source`)")
        } else if let type, !Self.mqttConnectorNames.contains(type) {
            reader.report(
                root,
                "type",
                "`\(type)` is not an MQTT connector; rivven-mqtt runs `mqtt-source` (or `mqtt`) only"
            )
        }
        let name = reader.string(root, "name", validate: { $0.isEmpty ? "the source name cannot be empty" : nil })
        for key in Self.rivvenConnectKeys where root.contains(key) {
            _ = root.value(key)
            reader.report(
                root,
                key,
                "`\(key)` belongs in a rivven-connect file; a connector file (`type: \(type ?? "mqtt-source")`) "
                    + "describes exactly one source, so put several sources in a rivven-connect file's `sources:`"
            )
        }
        let source = readSource(
            root,
            name: name ?? "mqtt-source",
            configPathPrefix: root.path(of: "config"),
            ignoredKeys: []
        )
        let sections = readSections(root)
        reader.finish(root)
        guard let source, let sections else { return nil }
        return finishConfiguration(sources: [source], sections: sections, skipped: [])
    }

    private mutating func loadRivvenConnectFile(_ root: ConfigMapping) -> IngestConfiguration? {
        _ = reader.string(root, "version")
        for key in ["sinks", "settings", "distributed"] {
            // Accepted and ignored: they configure rivven-connect's other parts.
            if let section = reader.child(root, key) { section.acceptAll() }
        }
        var sources: [SourceConfiguration] = []
        var skipped: [String] = []
        var skippedKinds: [String] = []
        var complete = true
        if let sourcesMapping = reader.child(root, "sources") {
            for entry in sourcesMapping.entries {
                _ = sourcesMapping.value(entry.key)
                guard let sourceMapping = reader.mapping(entry.value, path: sourcesMapping.path(of: entry.key)) else {
                    complete = false
                    continue
                }
                switch readConnectSource(sourceMapping, name: entry.key) {
                case .mqtt(let source): sources.append(source)
                case .disabled: break
                case .skipped(let connector):
                    skipped.append(entry.key)
                    skippedKinds.append("`\(entry.key)` (\(connector))")
                case .invalid: complete = false
                }
            }
            if sources.isEmpty, complete {
                var message = "no enabled MQTT source (`connector: mqtt-source`)"
                if !skippedKinds.isEmpty { message += "; skipped " + skippedKinds.joined(separator: ", ") }
                reader.report(root, "sources", message)
            }
        } else if root.value("sources").map(ConfigReader.isNull) ?? true {
            reader.report(root, "sources", "required: at least one source with `connector: mqtt-source`")
        }
        let sections = readSections(root)
        reader.finish(
            root,
            hints: Dictionary(
                uniqueKeysWithValues: ["topic", "type"].map {
                    ($0, "`\($0)` belongs inside a source (`sources.NAME.\($0 == "type" ? "connector" : $0)`)")
                }
            )
        )
        guard complete, let sections else { return nil }
        return finishConfiguration(sources: sources, sections: sections, skipped: skipped)
    }

    private enum ConnectSource {
        case mqtt(SourceConfiguration)
        case disabled
        case skipped(connector: String)
        case invalid
    }

    private mutating func readConnectSource(_ mapping: ConfigMapping, name: String) -> ConnectSource {
        guard let connector = reader.requiredString(mapping, "connector", hint: " (`mqtt-source`)") else {
            mapping.acceptAll()
            return .invalid
        }
        guard Self.mqttConnectorNames.contains(connector) else {
            // Another connector: its keys are its own business.
            mapping.acceptAll()
            return .skipped(connector: connector)
        }
        let enabled = reader.bool(mapping, "enabled") ?? true
        var ignored: [String] = []
        if let topicConfig = reader.child(mapping, "topic_config") {
            _ = reader.int(topicConfig, "partitions", 1...1000)
            _ = reader.int(topicConfig, "replication_factor", 1...65535)
            _ = reader.bool(topicConfig, "auto_create")
            reader.finish(topicConfig)
            ignored.append(mapping.path(of: "topic_config"))
        }
        if let rateLimit = reader.child(mapping, "rate_limit") {
            let limits = ["events_per_second", "max_in_flight", "burst_size"].map {
                reader.int(rateLimit, $0, 0...Int.max) ?? 0
            }
            reader.finish(rateLimit)
            if limits.contains(where: { $0 > 0 }) { ignored.append(mapping.path(of: "rate_limit")) }
        }
        for key in ["tables", "transforms"] {
            guard let node = mapping.value(key), !ConfigReader.isNull(node) else { continue }
            guard case .sequence(let sequence) = node else {
                reader.report(mapping, key, "expected a list, got \(ConfigReader.describe(node))")
                continue
            }
            if !sequence.isEmpty { ignored.append(mapping.path(of: key)) }
        }
        if let url = reader.string(mapping, "schema_registry_url"), !url.isEmpty {
            ignored.append(mapping.path(of: "schema_registry_url"))
        }
        let source = readSource(
            mapping,
            name: name,
            configPathPrefix: mapping.path(of: "config"),
            ignoredKeys: ignored
        )
        reader.finish(mapping)
        guard let source else { return .invalid }
        return enabled ? .mqtt(source) : .disabled
    }

    /// `topic` and `config` of a source (the root of a connector file, or `sources.NAME`).
    private mutating func readSource(
        _ mapping: ConfigMapping,
        name: String,
        configPathPrefix: String,
        ignoredKeys: [String]
    ) -> SourceConfiguration? {
        let topic = reader.string(mapping, "topic", required: true, validate: RivvenTopicName.problem)
        var mqtt: MQTTConfiguration?
        if let config = reader.child(mapping, "config") {
            mqtt = readMQTT(config, sourceName: name)
        } else if mapping.value("config").map(ConfigReader.isNull) ?? true {
            reader.report(mapping, "config", "required: the MQTT source settings (`broker_url`, `topics`, …)")
        }
        guard let topic, let mqtt else { return nil }
        return SourceConfiguration(
            name: name,
            topic: topic,
            mqtt: mqtt,
            configPathPrefix: configPathPrefix,
            ignoredKeys: ignoredKeys
        )
    }

    // MARK: The MQTT source

    static let qosChoices: KeyValuePairs<String, MQTTQoS> = [
        "at_most_once": .atMostOnce, "at_least_once": .atLeastOnce, "exactly_once": .exactlyOnce,
        "0": .atMostOnce, "1": .atLeastOnce, "2": .exactlyOnce,
    ]
    static let qosShown = ["at_most_once", "at_least_once", "exactly_once", "0", "1", "2"]

    private mutating func readMQTT(_ config: ConfigMapping, sourceName: String) -> MQTTConfiguration? {
        var brokerURL: BrokerURL?
        if let text = reader.requiredString(config, "broker_url", hint: " (such as `mqtt://broker:1883`)") {
            do {
                brokerURL = try BrokerURL.parse(text)
            } catch {
                reader.report(config, "broker_url", error.description)
            }
        }
        let topics = readTopics(config)
        let clientID = reader.string(config, "client_id", validate: Self.clientIDProblem)
        let qos = reader.choice(config, "qos", Self.qosChoices, shown: Self.qosShown)
        let cleanSession = reader.bool(config, "clean_session")
        let keepAlive = reader.int(config, "keep_alive_secs", 5...65535)
        let connectTimeout = reader.int(config, "connect_timeout_secs", 1...300)
        let version = reader.choice(
            config,
            "mqtt_version",
            ["v3": .v3, "3.1": .v3, "v311": .v311, "3.1.1": .v311, "v5": .v5, "5": .v5, "5.0": .v5]
                as KeyValuePairs<String, MQTTProtocolVersion>,
            shown: ["v3", "v311", "v5"]
        )
        let (username, password, tls) = readCredentialsAndTLS(config)
        let maxInflight = reader.int(config, "max_inflight", 1...65535)
        let reconnectDelay = reader.int(config, "reconnect_delay_ms", 100...60000)
        let maxReconnectAttempts = reader.int(config, "max_reconnect_attempts", 0...Int(UInt32.max))
        let retryInitial = reader.int(config, "retry_initial_ms", 10...60000)
        let retryMax = reader.int(config, "retry_max_ms", 100...300_000)
        let retryMultiplier = reader.double(config, "retry_multiplier", 1.0...10.0)
        if let retryInitial, let retryMax, retryMax < retryInitial {
            reader.report(config, "retry_max_ms", "\(retryMax) is below retry_initial_ms (\(retryInitial))")
        }
        let parseJSON = reader.bool(config, "parse_json_payload")
        let includeMetadata = reader.bool(config, "include_metadata")
        let emptyPollDelay = reader.int(config, "empty_poll_delay_ms", 0...60000)
        let lastWill = readLastWill(config)
        let sharedGroup = reader.string(config, "shared_group", validate: MQTTTopic.shareGroupProblem)
        let connections = reader.int(config, "connections", 1...64)
        if let connections, connections > 1, sharedGroup == nil, !config.has("shared_group") {
            reader.report(
                config,
                "connections",
                "\(connections) connections need `shared_group`: without a shared subscription every connection "
                    + "would receive every message"
            )
        }
        if sharedGroup != nil, let topics {
            for item in topics where item.text.hasPrefix(MQTTTopic.sharePrefix) {
                reader.report(item.path, item.mark, "is already a `$share/` filter; remove it or `shared_group`")
            }
        }
        let format = reader.choice(config, "format", ["envelope": RecordFormat.envelope, "raw": .raw])
        let key = readKeySpec(config)
        let topicRouting = reader.string(config, "topic_routing", validate: Self.topicRoutingProblem)
        let deadLetterTopic = reader.string(config, "dead_letter_topic", validate: RivvenTopicName.problem)
        let maxPayload = reader.size(config, "max_payload_bytes", 1...(256 << 20))

        reader.finish(
            config,
            hints: [
                "username": "did you mean `auth.username`?",
                "password": "did you mean `auth.password`?",
                "ca_cert": "did you mean `tls.ca_cert`?",
                "client_cert": "did you mean `tls.client_cert`?",
                "client_key": "did you mean `tls.client_key`?",
                "insecure": "did you mean `tls.insecure`?",
                "topic": "did you mean `topics` (a list)? The Rivven topic is `topic:` next to `config:`",
            ]
        )

        guard let brokerURL, let topics, let tls else { return nil }
        let topicTexts = topics.map(\.text)
        let resolvedClientID =
            clientID
            ?? MQTTConfiguration.derivedClientID(
                hostName: hostName,
                brokerURL: brokerURL.original,
                topics: topicTexts,
                sourceName: sourceName
            )
        return MQTTConfiguration(
            brokerURL: brokerURL,
            topics: topicTexts,
            clientID: resolvedClientID,
            clientIDIsDerived: clientID == nil,
            qos: qos ?? .atMostOnce,
            cleanSession: cleanSession ?? true,
            keepAliveSecs: keepAlive ?? 60,
            connectTimeoutSecs: connectTimeout ?? 30,
            protocolVersion: version ?? .v311,
            username: username,
            password: password,
            tls: tls,
            maxInflight: maxInflight ?? 100,
            reconnectDelayMs: reconnectDelay ?? 5000,
            maxReconnectAttempts: maxReconnectAttempts ?? 0,
            retryInitialMs: retryInitial ?? 100,
            retryMaxMs: retryMax ?? 10_000,
            retryMultiplier: retryMultiplier ?? 2.0,
            parseJSONPayload: parseJSON ?? true,
            includeMetadata: includeMetadata ?? true,
            emptyPollDelayMs: emptyPollDelay ?? 50,
            lastWill: lastWill,
            sharedGroup: sharedGroup,
            connections: connections ?? 1,
            format: format ?? .envelope,
            key: key,
            topicRouting: topicRouting,
            deadLetterTopic: deadLetterTopic,
            maxPayloadBytes: maxPayload ?? (1 << 20)
        )
    }

    private mutating func readTopics(_ config: ConfigMapping) -> [ConfigListItem]? {
        guard let items = reader.list(config, "topics", expected: "MQTT topic filters") else {
            if config.value("topics").map(ConfigReader.isNull) ?? true {
                reader.report(config, "topics", "required: at least one MQTT topic filter, such as `[sensors/#]`")
            }
            return nil
        }
        guard !items.isEmpty else {
            reader.report(config, "topics", "needs at least one MQTT topic filter, such as `[sensors/#]`")
            return nil
        }
        var valid = true
        for (index, item) in items.enumerated() {
            if let problem = MQTTTopic.filterProblem(item.text) {
                reader.report(item.path, item.mark, problem)
                valid = false
            } else if let first = items[..<index].firstIndex(where: { $0.text == item.text }) {
                reader.report(item.path, item.mark, "duplicates \(config.path(of: "topics"))[\(first)]")
                valid = false
            }
        }
        return valid ? items : nil
    }

    static func clientIDProblem(_ id: String) -> String? {
        if id.isEmpty { return "cannot be empty; leave `client_id` out to get a stable derived id" }
        if id.unicodeScalars.contains("\u{0}") { return "cannot contain a NUL character" }
        if id.utf8.count > 65535 { return "is longer than MQTT allows (65535 bytes)" }
        return nil
    }

    /// `auth.{username, password, ca_cert, client_cert, client_key}` and `tls.{ca_cert, client_cert,
    /// client_key, insecure}`; a TLS file may be given in either place (the same path in both is fine).
    private mutating func readCredentialsAndTLS(
        _ config: ConfigMapping
    ) -> (String?, Secret?, MQTTTLSConfiguration?) {
        let fileKeys = ["ca_cert", "client_cert", "client_key"]
        var username: String?
        var password: Secret?
        var files: [String: (path: String, section: ConfigMapping)] = [:]
        var complete = true
        let auth = reader.child(config, "auth")
        if let auth {
            username = reader.string(auth, "username")
            password = reader.string(auth, "password").map(Secret.init)
        }
        let tls = reader.child(config, "tls")
        let insecure = tls.flatMap { reader.bool($0, "insecure") } ?? false
        for key in fileKeys {
            for section in [tls, auth].compactMap({ $0 }) {
                guard let path = reader.string(section, key) else { continue }
                if let problem = path.isEmpty ? "cannot be empty" : FileReader.readableFileProblem(path) {
                    reader.report(section, key, problem)
                    complete = false
                    continue
                }
                if let earlier = files[key], earlier.path != path {
                    reader.report(
                        section,
                        key,
                        "conflicts with `\(earlier.section.path(of: key))`; give the file in one place only"
                    )
                    complete = false
                    continue
                }
                files[key] = files[key] ?? (path, section)
            }
        }
        if let key = files["client_key"], files["client_cert"] == nil {
            reader.report(key.section, "client_key", "a client key needs `client_cert` too")
            complete = false
        }
        if let cert = files["client_cert"], files["client_key"] == nil {
            reader.report(cert.section, "client_cert", "a client certificate needs `client_key` too")
            complete = false
        }
        if let auth { reader.finish(auth) }
        if let tls { reader.finish(tls) }
        guard complete else { return (username, password, nil) }
        let configuration = MQTTTLSConfiguration(
            caCert: files["ca_cert"]?.path,
            clientCert: files["client_cert"]?.path,
            clientKey: files["client_key"]?.path,
            insecure: insecure
        )
        return (username, password, configuration)
    }

    private mutating func readLastWill(_ config: ConfigMapping) -> MQTTLastWill? {
        guard let will = reader.child(config, "last_will") else { return nil }
        let topic = reader.string(will, "topic", required: true, validate: MQTTTopic.nameProblem)
        let message = reader.string(will, "message")
        let payload = reader.string(will, "payload")
        if will.contains("message") && will.contains("payload") {
            reader.report(will, "payload", "give either `message` or its alias `payload`, not both")
        }
        let qos = reader.choice(will, "qos", Self.qosChoices, shown: Self.qosShown)
        let retain = reader.bool(will, "retain")
        reader.finish(will)
        guard let topic else { return nil }
        return MQTTLastWill(
            topic: topic,
            message: Array((message ?? payload ?? "").utf8),
            qos: qos ?? .atMostOnce,
            retain: retain ?? false
        )
    }

    private mutating func readKeySpec(_ config: ConfigMapping) -> RecordKeySpec? {
        guard let text = reader.string(config, "key") else { return nil }
        let expected = "expected `none`, `topic`, `json:FIELD` or `property:NAME`, got \(ConfigReader.show(text))"
        switch text {
        case "none": return RecordKeySpec.none
        case "topic": return .topic
        default: break
        }
        for (prefix, make) in [("json:", RecordKeySpec.jsonField), ("property:", RecordKeySpec.property)] {
            guard text.hasPrefix(prefix) else { continue }
            let name = String(text.dropFirst(prefix.count))
            guard !name.isEmpty else {
                reader.report(config, "key", "`\(prefix)` needs a name after the colon, as in `\(prefix)device_id`")
                return nil
            }
            return make(name)
        }
        reader.report(config, "key", expected)
        return nil
    }

    /// `nil` when the template has only literal Rivven-topic characters, `{N}` (N ≥ 1) and `{topic}`.
    static func topicRoutingProblem(_ template: String) -> String? {
        if template.isEmpty { return "the template is empty" }
        var index = template.startIndex
        var first = true
        while index < template.endIndex {
            let character = template[index]
            if character == "{" {
                guard let close = template[index...].firstIndex(of: "}") else {
                    return "unclosed `{` in the template"
                }
                let name = template[template.index(after: index)..<close]
                let isLevel = !name.isEmpty && name.allSatisfy { $0.isASCII && $0.isNumber } && (Int(name) ?? 0) >= 1
                guard isLevel || name == "topic" else {
                    return "unknown placeholder `{\(name)}`; use `{N}` (the N-th MQTT topic level, N ≥ 1) or `{topic}`"
                }
                index = template.index(after: close)
            } else if character == "}" {
                return "`}` without a matching `{`"
            } else {
                guard character.unicodeScalars.allSatisfy(RivvenTopicName.isAllowed) else {
                    return "`\(character)` can never be part of a Rivven topic name (letters, digits, `.`, `_`, `-`)"
                }
                if first, !(character.isASCII && (character.isLetter || character.isNumber)) {
                    return "a Rivven topic name must start with a letter or a digit"
                }
                index = template.index(after: index)
            }
            first = false
        }
        return nil
    }

    // MARK: Top-level sections

    struct Sections {
        var rivven: RivvenConfiguration?
        var batch: BatchConfiguration
        var buffer: BufferConfiguration
        var log: LogConfiguration
        var metrics: MetricsConfiguration
        var bufferCapacityBytesGiven: Bool
    }

    private mutating func readSections(_ root: ConfigMapping) -> Sections? {
        var rivven: RivvenConfiguration?
        var brokerValid = true
        if let section = reader.child(root, "broker") {
            switch readBroker(section) {
            case .none: brokerValid = false
            case .some(let value): rivven = value
            }
        } else if let node = root.value("broker"), !ConfigReader.isNull(node) {
            brokerValid = false
        }
        var batch = BatchConfiguration()
        if let section = reader.child(root, "batch") {
            batch.maxMessages = reader.int(section, "max_messages", 1...10_000) ?? batch.maxMessages
            batch.maxBytes = reader.size(section, "max_bytes", (1 << 10)...(8 << 20)) ?? batch.maxBytes
            batch.lingerMs = reader.int(section, "linger_ms", 0...10_000) ?? batch.lingerMs
            reader.finish(section)
        }
        var buffer = BufferConfiguration()
        var capacityGiven = false
        if let section = reader.child(root, "buffer") {
            if let capacity = reader.int(section, "capacity_messages", 1024...(1 << 24)) {
                if capacity & (capacity - 1) == 0 {
                    buffer.capacityMessages = capacity
                } else {
                    var power = 1024
                    while power < capacity { power <<= 1 }
                    reader.report(
                        section,
                        "capacity_messages",
                        "\(capacity) is not a power of two (such as \(power >> 1) or \(power))"
                    )
                }
            }
            capacityGiven = section.contains("capacity_bytes")
            buffer.capacityBytes =
                reader.size(section, "capacity_bytes", (1 << 20)...(64 << 30)) ?? buffer.capacityBytes
            buffer.whenFull =
                reader.choice(
                    section,
                    "when_full",
                    ["block": WhenFull.block, "drop_oldest": .dropOldest, "drop_newest": .dropNewest]
                ) ?? buffer.whenFull
            reader.finish(section)
        }
        var log = LogConfiguration()
        if let section = reader.child(root, "log") {
            log.dir = reader.string(section, "dir", validate: { $0.isEmpty ? "cannot be empty" : nil }) ?? log.dir
            log.segmentBytes = reader.size(section, "segment_bytes", (1 << 20)...(1 << 30)) ?? log.segmentBytes
            if let maxBytes = reader.size(section, "max_bytes", (1 << 20)...Int.max) {
                if maxBytes < log.segmentBytes {
                    reader.report(
                        section,
                        "max_bytes",
                        "\(ByteSize.format(maxBytes)) is below segment_bytes (\(ByteSize.format(log.segmentBytes)))"
                    )
                } else {
                    log.maxBytes = maxBytes
                }
            }
            if let fsync = reader.string(section, "fsync") {
                switch Self.parseFsync(fsync) {
                case .success(let policy): log.fsync = policy
                case .failure(let failure): reader.report(section, "fsync", failure.message)
                }
            }
            reader.finish(section)
        }
        var metrics = MetricsConfiguration()
        if let section = reader.child(root, "metrics") {
            if let listen = reader.string(section, "listen") {
                let lowered = listen.trimmingSpaces.lowercased()
                if lowered == "off" || lowered == "false" {
                    metrics.listen = nil
                } else if let problem = HostPort.problem(listen, allowPortZero: false) {
                    reader.report(section, "listen", problem + "; or `off` to disable the endpoint")
                } else {
                    metrics.listen = listen
                }
            }
            metrics.prefix = reader.string(section, "prefix", validate: Self.metricsPrefixProblem) ?? metrics.prefix
            reader.finish(section)
        }
        guard brokerValid else { return nil }
        return Sections(
            rivven: rivven,
            batch: batch,
            buffer: buffer,
            log: log,
            metrics: metrics,
            bufferCapacityBytesGiven: capacityGiven
        )
    }

    static func parseFsync(_ text: String) -> Result<FsyncPolicy, ByteSize.Failure> {
        let trimmed = text.trimmingSpaces
        switch trimmed.lowercased() {
        case "batch": return .success(.batch)
        case "never": return .success(.never)
        default: break
        }
        if trimmed.lowercased().hasPrefix("interval:") {
            let number = String(trimmed.dropFirst("interval:".count)).trimmingSpaces
            guard let milliseconds = ConfigReader.parseInteger(number) else {
                return .failure(ByteSize.Failure(message: "`interval:MS` needs milliseconds, got `\(number)`"))
            }
            guard (1...60_000).contains(milliseconds) else {
                return .failure(ByteSize.Failure(message: "interval \(milliseconds) ms is out of the range 1…60000"))
            }
            return .success(.interval(milliseconds: milliseconds))
        }
        return .failure(
            ByteSize.Failure(message: "expected `batch`, `never` or `interval:MS`, got \(ConfigReader.show(text))")
        )
    }

    static func metricsPrefixProblem(_ prefix: String) -> String? {
        guard let first = prefix.unicodeScalars.first else { return "cannot be empty" }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
        }
        guard isLetter(first), prefix.unicodeScalars.allSatisfy({ isLetter($0) || ("0"..."9").contains($0) }) else {
            return "\(ConfigReader.show(prefix)) is not a Prometheus name prefix (`[A-Za-z_][A-Za-z0-9_]*`)"
        }
        return nil
    }

    /// The `broker:` section; `.some(nil)` when it names no servers (local log only), `nil` when invalid.
    private mutating func readBroker(_ broker: ConfigMapping) -> RivvenConfiguration?? {
        var complete = true
        var servers: [String] = []
        let hasList = broker.has("bootstrap_servers")
        let hasAddress = broker.has("address")
        if hasList && hasAddress {
            reader.report(broker, "address", "give either `bootstrap_servers` or `address`, not both")
            complete = false
        }
        if let items = reader.list(broker, "bootstrap_servers", expected: "`host:port` addresses") {
            for item in items {
                if let problem = HostPort.problem(item.text, allowPortZero: false) {
                    reader.report(item.path, item.mark, problem)
                    complete = false
                } else {
                    servers.append(item.text)
                }
            }
        } else if hasList, broker.value("bootstrap_servers").map(ConfigReader.isNull) == false {
            complete = false
        }
        if let address = reader.string(broker, "address") {
            if let problem = HostPort.problem(address, allowPortZero: false) {
                reader.report(broker, "address", problem)
                complete = false
            } else if !hasList {
                servers = [address]
            }
        }
        var tls = RivvenTLSConfiguration()
        if let section = reader.child(broker, "tls") {
            tls.enabled = reader.bool(section, "enabled") ?? false
            tls.insecure = reader.bool(section, "insecure") ?? false
            tls.serverName = reader.string(section, "server_name")
            var paths: [String: String] = [:]
            for key in ["ca_path", "cert_path", "key_path"] {
                guard let path = reader.string(section, key) else { continue }
                if let problem = path.isEmpty ? "cannot be empty" : FileReader.readableFileProblem(path) {
                    reader.report(section, key, problem)
                    complete = false
                } else {
                    paths[key] = path
                }
            }
            if section.contains("key_path") && !section.contains("cert_path") {
                reader.report(section, "key_path", "a client key needs `cert_path` too")
                complete = false
            }
            if section.contains("cert_path") && !section.contains("key_path") {
                reader.report(section, "cert_path", "a client certificate needs `key_path` too")
                complete = false
            }
            tls.caPath = paths["ca_path"]
            tls.certPath = paths["cert_path"]
            tls.keyPath = paths["key_path"]
            reader.finish(section)
        }
        var username: String?
        var password: Secret?
        if let auth = reader.child(broker, "auth") {
            username = reader.string(auth, "username")
            password = reader.string(auth, "password").map(Secret.init)
            reader.finish(auth)
        }
        let createTopic = reader.bool(broker, "create_topic")
        let partitions = reader.int(broker, "partitions", 1...1000)
        let idempotent = reader.bool(broker, "idempotent")
        // rivven-connect's own broker keys: accepted, checked, not used.
        for key in ["metadata_refresh_ms", "connection_timeout_ms", "request_timeout_ms"] {
            _ = reader.int(broker, key, 0...86_400_000)
        }
        reader.finish(broker)
        guard complete else { return nil }
        if servers.isEmpty {
            let others = broker.entries.map(\.key).filter { $0 != "bootstrap_servers" && $0 != "address" }
            if !others.isEmpty {
                reader.report(
                    broker,
                    "bootstrap_servers",
                    "required when `broker` has other settings (\(others.map { "`\($0)`" }.joined(separator: ", "))); "
                        + "without servers rivven-mqtt writes to the local log only"
                )
                return nil
            }
            return .some(nil)
        }
        return RivvenConfiguration(
            bootstrapServers: servers,
            tls: tls,
            username: username,
            password: password,
            createTopic: createTopic ?? true,
            partitions: partitions ?? 1,
            idempotent: idempotent ?? true
        )
    }

    // MARK: Cross-section checks

    private mutating func finishConfiguration(
        sources: [SourceConfiguration],
        sections: Sections,
        skipped: [String]
    ) -> IngestConfiguration? {
        var seenClientIDs: [String: String] = [:]
        for source in sources {
            if source.mqtt.maxPayloadBytes > sections.buffer.capacityBytes {
                let capacity = ByteSize.format(sections.buffer.capacityBytes)
                let origin = sections.bufferCapacityBytesGiven ? "" : " (the default)"
                reader.report(
                    "\(source.configPathPrefix).max_payload_bytes",
                    nil,
                    "\(ByteSize.format(source.mqtt.maxPayloadBytes)) is larger than buffer.capacity_bytes "
                        + "\(capacity)\(origin), so such a message could never be buffered"
                )
            }
            for id in source.mqtt.allClientIDs {
                if let other = seenClientIDs[id] {
                    reader.report(
                        "\(source.configPathPrefix).client_id",
                        nil,
                        "client id `\(id)` is also used by source `\(other)`; the broker would disconnect one of them"
                    )
                } else {
                    seenClientIDs[id] = source.name
                }
            }
        }
        return IngestConfiguration(
            sources: sources,
            rivven: sections.rivven,
            batch: sections.batch,
            buffer: sections.buffer,
            log: sections.log,
            metrics: sections.metrics,
            skippedConnectors: skipped
        )
    }
}

/// `host:port` addresses (`broker.bootstrap_servers`, `metrics.listen`); IPv6 hosts in brackets.
enum HostPort {
    static func problem(_ text: String, allowPortZero: Bool) -> String? {
        let shown = ConfigReader.show(text)
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return "unclosed `[` in \(shown)" }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return "expected `[IPv6]:port`, got \(shown)" }
            port = rest.dropFirst()
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                return "`[\(host)]` is not an IPv6 address"
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return "expected `host:port`, got \(shown)" }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return "an IPv6 host must be in brackets, as in `[::1]:9092`, got \(shown)" }
            guard !host.isEmpty else { return "the host is missing in \(shown)" }
            guard host.allSatisfy(BrokerURL.isHostCharacter) else { return "\(shown) has an invalid host" }
        }
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(port)
        else {
            return "expected `host:port` with a numeric port, got \(shown)"
        }
        let lowest = allowPortZero ? 0 : 1
        guard (lowest...65535).contains(number) else { return "port \(number) is out of the range \(lowest)…65535" }
        return nil
    }
}
