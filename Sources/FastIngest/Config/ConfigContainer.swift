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

/// Reads one configuration mapping inside an `init(from:)`.
///
/// Each typed read is `decodeIfPresent` of the key plus a conversion, and returns `nil` when the key is absent
/// or null, so a section writes `value = container.integer(.key, in: 1...10) ?? default`. A value that is
/// present but bad is reported to the ``ConfigurationProblemCollector`` with its path and also gives `nil`, so
/// the default applies and decoding goes on: one pass finds every problem. ``finish(hints:knownOnlyIfPresent:)``
/// reports the mapping's unknown keys.
struct ConfigContainer<Key: CodingKey> {
    /// Where problems go.
    let problems: ConfigurationProblemCollector
    /// The path of this mapping.
    let path: ConfigPath
    /// The decoder's `userInfo`.
    let userInfo: [CodingUserInfoKey: Any]
    /// Every key of the mapping, in document order, known or not.
    let allKeys: [String]
    private let container: KeyedDecodingContainer<Key>
    private let ownsProblems: Bool

    /// Opens the mapping `decoder` holds. When it holds something else, that is reported and the section cannot be
    /// made: the initializer throws.
    init(_ decoder: any Decoder, keyedBy type: Key.Type) throws {
        (problems, ownsProblems) = ConfigurationProblemCollector.collector(for: decoder)
        path = ConfigPath(decoder.codingPath)
        userInfo = decoder.userInfo
        do {
            container = try decoder.container(keyedBy: Key.self)
            allKeys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        } catch {
            let value = try? ConfigValue(from: decoder)
            problems.report(path, "expected a mapping, got \(problems.describe(value, at: path))")
            throw ownsProblems ? ConfigurationError(problems: problems.problems) : InvalidConfigurationSection()
        }
        problems.reportDeferred(at: path)
    }

    // MARK: Keys

    /// The path of `key` in this mapping.
    func path(_ key: Key) -> ConfigPath {
        path.appending(key.stringValue)
    }

    /// `true` when `key` is present, even with a null value.
    func contains(_ key: Key) -> Bool {
        container.contains(key)
    }

    /// `true` when `key` is absent or null.
    func isMissing(_ key: Key) -> Bool {
        !container.contains(key) || ((try? container.decodeNil(forKey: key)) ?? false)
    }

    /// Reports `message` about `key`.
    func report(_ key: Key, _ message: String) {
        problems.report(path(key), message)
    }

    /// Reports every key of the mapping that is not a case of `Key`, with a "did you mean" hint when one is close,
    /// and ends the section: a section decoded on its own (with no collector from its decoder) throws
    /// ``ConfigurationError`` here if anything was reported.
    ///
    /// - Parameters:
    ///   - hints: advice for keys that belong elsewhere, such as `username` → `auth.username`.
    ///   - knownOnlyIfPresent: keys that are neither suggested nor listed unless the mapping has them (keys of the
    ///     other file shape, which the section reports itself).
    func finish(hints: [String: String] = [:], knownOnlyIfPresent: [Key] = []) throws where Key: ConfigurationKey {
        let hidden = Set(knownOnlyIfPresent.map(\.stringValue)).subtracting(allKeys)
        let known = Key.allCases.map(\.stringValue).filter { !hidden.contains($0) }
        for key in allKeys where !known.contains(key) {
            var message = "unknown key"
            if let hint = hints[key] {
                message += "; \(hint)"
            } else if let suggestion = Suggestion.closest(to: key, among: known) {
                message += "; did you mean `\(suggestion)`?"
            } else if !known.isEmpty {
                message += " (known keys: " + known.map { "`\($0)`" }.joined(separator: ", ") + ")"
            }
            problems.report(path.appending(key), message, pointingAtKey: true)
        }
        try finishAcceptingEveryKey()
    }

    /// Ends a section whose keys are all accepted (names, or settings of another program).
    func finishAcceptingEveryKey() throws {
        if ownsProblems, !problems.isEmpty { throw ConfigurationError(problems: problems.problems) }
    }

    /// The error for a section that cannot be made; its problems are reported already.
    func invalid() -> any Error {
        ownsProblems ? ConfigurationError(problems: problems.problems) : InvalidConfigurationSection()
    }

    // MARK: Values

    /// The value of `key`; `nil` when absent or null.
    func value(_ key: Key) -> ConfigValue? {
        do {
            return try container.decodeIfPresent(ConfigValue.self, forKey: key)
        } catch {
            report(key, "cannot be read: \(error)")
            return nil
        }
    }

    /// The text of a scalar value; `nil` when null, not a scalar (reported, naming `expected`), or naming an
    /// environment variable that is not set (reported).
    func text(of value: ConfigValue, at path: ConfigPath, expected: String) -> String? {
        switch value {
        case .null:
            return nil
        case .scalar(let text):
            return problems.reportDeferred(at: path) ? nil : text
        case .list, .mapping:
            problems.report(path, "expected \(expected), got \(problems.describe(value, at: path))")
            return nil
        }
    }

    /// The text at `key` converted by `convert`, whose failure is reported at the key; `nil` when absent or null
    /// (reported when `required`, with `hint` after "required"), not a scalar, or not convertible.
    func parsed<Value>(
        _ key: Key,
        expected: String = "a string",
        required: Bool = false,
        hint: String = "",
        _ convert: (String) -> Result<Value, ConfigValueProblem>
    ) -> Value? {
        guard let value = value(key) else {
            if required { report(key, "required" + hint) }
            return nil
        }
        guard let text = text(of: value, at: path(key), expected: expected) else { return nil }
        switch convert(text) {
        case .success(let converted):
            return converted
        case .failure(let problem):
            report(key, problem.message)
            return nil
        }
    }

    /// A string (numbers and booleans are taken as their text), checked by `validate`, which returns the reason
    /// when the value is bad.
    func string(
        _ key: Key,
        required: Bool = false,
        hint: String = "",
        validate: (String) -> String? = { _ in nil }
    ) -> String? {
        parsed(key, required: required, hint: hint) { text in
            validate(text).map { .failure(ConfigValueProblem($0)) } ?? .success(text)
        }
    }

    /// A whole number in `range`.
    func integer(_ key: Key, in range: ClosedRange<Int>) -> Int? {
        parsed(key, expected: "an integer") { text in
            let trimmed = text.trimmingSpaces
            guard let value = ConfigText.parseInteger(trimmed) else {
                let kind = Double(trimmed) != nil ? "a whole number" : "an integer"
                return .failure(ConfigValueProblem("expected \(kind), got \(ConfigText.show(text))"))
            }
            return Self.check(value, in: range, format: { String($0) })
        }
    }

    /// A number (integer or decimal) in `range`.
    func number(_ key: Key, in range: ClosedRange<Double>) -> Double? {
        parsed(key, expected: "a number") { text in
            guard let value = Double(text.trimmingSpaces), value.isFinite else {
                return .failure(ConfigValueProblem("expected a number, got \(ConfigText.show(text))"))
            }
            return Self.check(value, in: range, format: { "\($0)" })
        }
    }

    /// `true` or `false` (in any case).
    func bool(_ key: Key) -> Bool? {
        parsed(key, expected: "true or false") { text in
            switch text.trimmingSpaces.lowercased() {
            case "true": .success(true)
            case "false": .success(false)
            default: .failure(ConfigValueProblem("expected true or false, got \(ConfigText.show(text))"))
            }
        }
    }

    /// A byte size in `range`: an integer, or a number with a unit (`512KiB`, `64MiB`, `1MB`; see ``ByteSize``).
    func size(_ key: Key, in range: ClosedRange<Int>) -> Int? {
        parsed(key, expected: "a size") { text in
            ByteSize.parse(text).flatMap { Self.check($0, in: range, format: ByteSize.format) }
        }
    }

    /// One of `choices`, compared case-insensitively; messages list `shown` (default: every choice).
    func choice<Value>(_ key: Key, _ choices: KeyValuePairs<String, Value>, shown: [String]? = nil) -> Value? {
        parsed(key) { text in
            let wanted = text.trimmingSpaces.lowercased()
            if let match = choices.first(where: { $0.key.lowercased() == wanted }) { return .success(match.value) }
            let names = shown ?? choices.map(\.key)
            var message =
                "expected one of " + names.map { "`\($0)`" }.joined(separator: ", ") + ", got \(ConfigText.show(text))"
            if let suggestion = Suggestion.closest(to: text, among: names) {
                message += "; did you mean `\(suggestion)`?"
            }
            return .failure(ConfigValueProblem(message))
        }
    }

    private static func check<Value: Comparable>(
        _ value: Value,
        in range: ClosedRange<Value>,
        format: (Value) -> String
    ) -> Result<Value, ConfigValueProblem> {
        if value < range.lowerBound {
            return .failure(ConfigValueProblem("\(format(value)) is below the minimum \(format(range.lowerBound))"))
        }
        if value > range.upperBound {
            return .failure(ConfigValueProblem("\(format(value)) is above the maximum \(format(range.upperBound))"))
        }
        return .success(value)
    }

    /// A list of scalars, each element with its path; `nil` when absent, null, not a list (reported), or when an
    /// element is not a usable scalar (reported).
    func list(_ key: Key, of expected: String) -> [ConfigListItem]? {
        guard let value = value(key) else { return nil }
        guard case .list(let elements) = value else {
            report(key, "expected a list of \(expected), got \(problems.describe(value, at: path(key)))")
            return nil
        }
        var items: [ConfigListItem] = []
        var complete = true
        for (index, element) in elements.enumerated() {
            let elementPath = path(key).appending(index: index)
            if case .null = element {
                problems.report(elementPath, "expected \(expected), got an empty value")
                complete = false
            } else if let text = text(of: element, at: elementPath, expected: expected) {
                items.append(ConfigListItem(text: text, path: elementPath))
            } else {
                complete = false
            }
        }
        return complete ? items : nil
    }

    /// A file that must be readable: its path, `.unusable` when it is empty or cannot be read (reported), `nil`
    /// when absent or not a string (reported).
    func readableFile(_ key: Key) -> ReadableFile? {
        guard let file = string(key) else { return nil }
        if let problem = file.isEmpty ? "cannot be empty" : FileReader.readableFileProblem(file) {
            report(key, problem)
            return .unusable
        }
        return .readable(file)
    }

    // MARK: Nested sections

    /// The nested section at `key`, decoded by its own `init(from:)`; `nil` when absent or null, or when the
    /// section cannot be made (its problems are reported).
    func section<Section: Decodable>(_ key: Key, as type: Section.Type = Section.self) -> Section? {
        absorbingProblems(of: key) { try container.decodeIfPresent(Section.self, forKey: key) }
    }

    /// The nested section at `key`, decoded by `decode` from the section's decoder.
    func section<Section>(_ key: Key, decode: (any Decoder) throws -> Section) -> Section? {
        guard !isMissing(key) else { return nil }
        return absorbingProblems(of: key) { try decode(container.superDecoder(forKey: key)) }
    }

    /// `true` when `key` holds a mapping.
    func holdsMapping(_ key: Key) -> Bool {
        if case .mapping? = value(key) { return true }
        return false
    }

    /// `true` when the mapping at `key` has a key `name`, even with a null value.
    func nestedMapping(_ key: Key, contains name: String) -> Bool {
        let nested = try? container.nestedContainer(keyedBy: AnyKey.self, forKey: key)
        return nested?.contains(AnyKey(name)) ?? false
    }

    private func absorbingProblems<Section>(of key: Key, _ decode: () throws -> Section?) -> Section? {
        do {
            return try decode()
        } catch is InvalidConfigurationSection {
            // Reported already.
        } catch let error as ConfigurationError {
            // The section was decoded with a collector of its own (this one is not in the decoder's userInfo).
            problems.add(error.problems)
        } catch {
            report(key, "cannot be read: \(error)")
        }
        return nil
    }
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
