/// `${NAME}` and `${NAME:-default}` in configuration values.
///
/// The default applies when NAME is unset or empty. Anything else, `$$` included, is left as written, and so is a
/// malformed reference (`${1X}`, `${unclosed`).
enum EnvironmentExpansion {
    /// `text` with every reference replaced, and the names of the variables that are not set and have no
    /// default, in order (a name used twice is listed twice).
    static func expand(_ text: String, environment: [String: String]) -> (text: String, missing: [String]) {
        guard text.contains("${") else { return (text, []) }
        var output = ""
        var missing: [String] = []
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            output += rest[rest.startIndex..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let reference = parseReference(afterOpen) else {
                output += "${"
                rest = afterOpen
                continue
            }
            let value = environment[reference.name]
            if let value, !(value.isEmpty && reference.fallback != nil) {
                output += value
            } else if let fallback = reference.fallback {
                output += fallback
            } else {
                missing.append(reference.name)
            }
            rest = afterOpen[reference.end...]
        }
        output += rest
        return (output, missing)
    }

    /// Parses `NAME}` or `NAME:-default}` after `${`.
    private static func parseReference(
        _ text: Substring
    ) -> (name: String, fallback: String?, end: Substring.Index)? {
        var index = text.startIndex
        guard index < text.endIndex, text[index] == "_" || (text[index].isASCII && text[index].isLetter) else {
            return nil
        }
        while index < text.endIndex,
            text[index] == "_" || (text[index].isASCII && (text[index].isLetter || text[index].isNumber))
        {
            index = text.index(after: index)
        }
        let name = String(text[text.startIndex..<index])
        guard index < text.endIndex else { return nil }
        if text[index] == "}" { return (name, nil, text.index(after: index)) }
        guard text[index...].hasPrefix(":-") else { return nil }
        let defaultStart = text.index(index, offsetBy: 2)
        guard let close = text[defaultStart...].firstIndex(of: "}") else { return nil }
        return (name, String(text[defaultStart..<close]), text.index(after: close))
    }
}
