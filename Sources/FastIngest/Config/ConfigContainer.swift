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
