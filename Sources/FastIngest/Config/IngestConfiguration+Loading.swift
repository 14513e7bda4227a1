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
    /// `${VAR}` references are expanded on the YAML tree first; then the sections are decoded with
    /// `YAMLDecoder`, each `init(from:)` reporting its bad fields to one ``ConfigurationProblemCollector`` and
    /// going on with defaults, so that a single pass finds every problem; then the sections are checked
    /// against each other.
    ///
    /// - Throws: ``ConfigurationError`` with every problem, in document order.
    public static func parse(
        yaml: String,
        environment: [String: String],
        hostName: String
    ) throws(ConfigurationError) -> IngestConfiguration {
        let document = try ConfigurationDocument.parse(yaml: yaml, environment: environment).get()
        let problems = ConfigurationProblemCollector(document: document)
        var file: ConfigurationFile?
        do {
            file = try YAMLDecoder().decode(
                ConfigurationFile.self,
                from: document.root,
                userInfo: [.configurationProblems: problems, .configurationHostName: hostName]
            )
        } catch is InvalidConfigurationSection {
            // Reported already.
        } catch {
            problems.report(ConfigurationError.Problem.fileLevel, "cannot be read: \(error)", at: nil)
        }
        if let file {
            problems.add(
                file.configuration.crossSectionProblems(bufferCapacityBytesGiven: file.bufferCapacityBytesGiven)
            )
            if problems.isEmpty { return file.configuration }
        }
        if problems.isEmpty {
            // Every section that cannot be made reports why; this keeps a bug from turning into silence.
            problems.report(ConfigurationError.Problem.fileLevel, "invalid", at: nil)
        }
        throw ConfigurationError(problems: problems.problems)
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
