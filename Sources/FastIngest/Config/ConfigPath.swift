/// Where a value sits in a configuration file: the keys and list indexes from the file root.
///
/// Built from a decoder's `codingPath`; ``dotted`` is the form problems carry (`sources.NAME.config.topics[1]`).
struct ConfigPath: Hashable {
    enum Component: Hashable {
        case key(String)
        case index(Int)
    }

    /// The root of the file.
    static let root = ConfigPath(components: [])

    var components: [Component]

    init(components: [Component]) {
        self.components = components
    }

    /// The path of a decoder's or container's `codingPath` (keys with an `intValue` are list indexes).
    init(_ codingPath: [any CodingKey]) {
        components = codingPath.map { key in key.intValue.map(Component.index) ?? .key(key.stringValue) }
    }

    /// The path of `key` in the mapping at this path.
    func appending(_ key: String) -> ConfigPath {
        ConfigPath(components: components + [.key(key)])
    }

    /// The path of element `index` of the list at this path.
    func appending(index: Int) -> ConfigPath {
        ConfigPath(components: components + [.index(index)])
    }

    /// The path of the mapping or list holding this value; `nil` for the root.
    var parent: ConfigPath? {
        components.isEmpty ? nil : ConfigPath(components: components.dropLast())
    }

    /// The path a problem here carries: ``dotted``, or ``ConfigurationError/Problem/fileLevel`` for the root.
    var problemPath: String {
        components.isEmpty ? ConfigurationError.Problem.fileLevel : dotted
    }

    /// `config.topics[1]`; empty for the root.
    var dotted: String {
        components.reduce(into: "") { text, component in
            switch component {
            case .key(let key): text += text.isEmpty ? key : ".\(key)"
            case .index(let index): text += "[\(index)]"
            }
        }
    }
}
