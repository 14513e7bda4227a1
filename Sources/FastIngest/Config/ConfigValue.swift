/// A coding key for any mapping key, to list every key a mapping has, known or not.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) {
        stringValue = name
    }

    init?(stringValue: String) {
        self.stringValue = stringValue
    }

    init?(intValue: Int) {
        nil
    }
}

/// The keys of one configuration mapping, in the order they are documented and listed in messages.
protocol ConfigurationKey: CodingKey, CaseIterable {}

/// A YAML value as configuration reading sees it: its kind, and its text when it is a scalar.
///
/// Configuration values are decoded as this and converted by ``ConfigContainer``, so a bad value becomes a
/// problem in words (`expected an integer, got a list`) instead of a `DecodingError`.
enum ConfigValue: Decodable {
    case null
    case scalar(String)
    case list([ConfigValue])
    case mapping

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let text = try? single.decode(String.self) {
            self = .scalar(text)
        } else if let flag = try? single.decode(Bool.self) {
            // Decoders other than YAMLDecoder (JSONDecoder) keep booleans and numbers apart from strings.
            self = .scalar(String(flag))
        } else if let integer = try? single.decode(Int.self) {
            self = .scalar(String(integer))
        } else if let number = try? single.decode(Double.self) {
            self = .scalar(String(number))
        } else if var list = try? decoder.unkeyedContainer() {
            var elements: [ConfigValue] = []
            while !list.isAtEnd { elements.append(try list.decode(ConfigValue.self)) }
            self = .list(elements)
        } else {
            self = .mapping
        }
    }
}

/// One element of a list of scalars, with its path (`config.topics[1]`).
struct ConfigListItem {
    var text: String
    var path: ConfigPath
}

/// A file named in the configuration (a CA, a client certificate or key).
enum ReadableFile: Equatable {
    /// The path of a file that can be read.
    case readable(String)
    /// Named, but empty or unreadable (reported).
    case unusable

    /// The path when the file can be read.
    var path: String? {
        if case .readable(let path) = self { return path }
        return nil
    }
}
