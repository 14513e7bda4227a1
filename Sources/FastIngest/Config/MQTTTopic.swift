/// MQTT topic filter and topic name rules (MQTT 3.1.1 §4.7 and MQTT 5 §4.8 for shared subscriptions).
public enum MQTTTopic {
    /// The longest topic, in UTF-8 bytes, that MQTT can encode.
    public static let maximumUTF8Length = 65_535

    /// The prefix of a shared subscription: `$share/GROUP/filter`.
    public static let sharePrefix = "$share/"

    /// Checks a subscription filter.
    ///
    /// Valid: not empty, at most 65535 UTF-8 bytes, no NUL, `+` only as a whole level, `#` only as the
    /// whole last level. `$share/GROUP/filter` is allowed when GROUP is not empty and has no `+`, `#`
    /// or `/`, and the filter after it is itself valid.
    ///
    /// - Returns: `nil` when the filter is valid, otherwise the reason in words.
    public static func filterProblem(_ filter: String) -> String? {
        if let problem = commonProblem(filter) { return problem }
        if filter.hasPrefix(sharePrefix) {
            let afterPrefix = filter.dropFirst(sharePrefix.count)
            guard let slash = afterPrefix.firstIndex(of: "/") else {
                return "a shared subscription needs a filter after the group: `$share/GROUP/filter`"
            }
            let group = afterPrefix[afterPrefix.startIndex..<slash]
            if let problem = shareGroupProblem(String(group)) { return problem }
            let inner = String(afterPrefix[afterPrefix.index(after: slash)...])
            guard !inner.isEmpty else {
                return "a shared subscription needs a filter after the group: `$share/GROUP/filter`"
            }
            return levelProblem(inner)
        }
        return levelProblem(filter)
    }

    /// Checks a topic name (the topic a message is published to, such as a last-will topic).
    ///
    /// Valid: not empty, at most 65535 UTF-8 bytes, no NUL, no `+` or `#` wildcard.
    ///
    /// - Returns: `nil` when the name is valid, otherwise the reason in words.
    public static func nameProblem(_ name: String) -> String? {
        if let problem = commonProblem(name) { return problem }
        if name.contains("+") || name.contains("#") {
            return "a topic name cannot contain the wildcards `+` or `#`"
        }
        return nil
    }

    /// Checks a shared-subscription group name (`shared_group`, or GROUP in `$share/GROUP/filter`).
    ///
    /// - Returns: `nil` when the group is valid, otherwise the reason in words.
    public static func shareGroupProblem(_ group: String) -> String? {
        if group.isEmpty { return "the shared-subscription group is empty" }
        if group.contains("\u{0}") { return "the shared-subscription group contains a NUL character" }
        if group.contains("+") || group.contains("#") || group.contains("/") {
            return "the shared-subscription group `\(group)` cannot contain `+`, `#` or `/`"
        }
        if group.utf8.count > maximumUTF8Length { return "the shared-subscription group is too long" }
        return nil
    }

    private static func commonProblem(_ topic: String) -> String? {
        if topic.isEmpty { return "a topic cannot be empty" }
        if topic.unicodeScalars.contains("\u{0}") { return "a topic cannot contain a NUL character" }
        let length = topic.utf8.count
        if length > maximumUTF8Length {
            return "a topic is at most \(maximumUTF8Length) bytes of UTF-8, this one has \(length)"
        }
        return nil
    }

    private static func levelProblem(_ filter: String) -> String? {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("+") && level != "+" {
                return "`+` must stand alone as a whole level, as in `a/+/c` (level \(index + 1) is `\(level)`)"
            }
            if level.contains("#") {
                if level != "#" {
                    return "`#` must stand alone as a whole level, as in `a/#` (level \(index + 1) is `\(level)`)"
                }
                if index != levels.count - 1 {
                    return "`#` is allowed only as the last level, as in `a/#`"
                }
            }
        }
        return nil
    }
}

/// Rivven topic name rules (the broker's check: `^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$`, no `..`).
enum RivvenTopicName {
    /// The longest Rivven topic name.
    static let maximumLength = 255

    /// `true` for the characters a Rivven topic name may contain.
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": true
        default: false
        }
    }

    /// `nil` when `name` is a valid Rivven topic name, otherwise the reason in words.
    static func problem(_ name: String) -> String? {
        if name.isEmpty { return "a Rivven topic name cannot be empty" }
        if let bad = name.unicodeScalars.first(where: { !isAllowed($0) }) {
            let shown = bad == "/" ? "`/`" : "`\(Character(bad))`"
            return "a Rivven topic name may contain only letters, digits, `.`, `_` and `-`, not \(shown)"
        }
        if let first = name.unicodeScalars.first, first == "." || first == "_" || first == "-" {
            return "a Rivven topic name must start with a letter or a digit"
        }
        if name.contains("..") { return "a Rivven topic name cannot contain `..`" }
        if name.unicodeScalars.count > maximumLength {
            return "a Rivven topic name is at most \(maximumLength) characters, this one has \(name.count)"
        }
        return nil
    }
}
