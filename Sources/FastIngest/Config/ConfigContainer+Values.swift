/// Typed reads of one key: each is `nil` when the key is absent or null, and also when the value is bad, which
/// is then reported with the key's path.
extension ConfigContainer {
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
}
