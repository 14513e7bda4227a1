/// Everything wrong with a configuration file, reported at once.
///
/// `description` has one line per problem, in document order, each as `path: message` (prefixed with the
/// file name when it is known), for example `config.keep_alive_secs: 3 is below the minimum 5`.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// One problem at one place of the file.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The path of the offending key from the file root, dotted (`sources.NAME.config.qos`,
        /// `config.topics[1]`); ``fileLevel`` for problems with the file as a whole.
        public var path: String
        /// What is wrong, in words. It never contains a secret.
        public var message: String

        /// Creates a problem.
        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }

        /// `path: message`.
        public var description: String { "\(path): \(message)" }

        /// The path of problems with the whole file (unreadable, not YAML, not a mapping).
        public static let fileLevel = "<file>"
    }

    /// The file the problems are in, when it was loaded from a file.
    public var file: String?
    /// All the problems of the file, in document order.
    public var problems: [Problem]

    /// Creates an error.
    public init(file: String? = nil, problems: [Problem]) {
        self.file = file
        self.problems = problems
    }

    /// One line per problem.
    public var description: String {
        problems.map { problem in
            guard let file else { return problem.description }
            if problem.path == Problem.fileLevel { return "\(file): \(problem.message)" }
            return "\(file): \(problem.description)"
        }
        .joined(separator: "\n")
    }
}
