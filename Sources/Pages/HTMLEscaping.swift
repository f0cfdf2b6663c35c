/// Escapes the five characters that matter in HTML text and in quoted attribute values
/// (HTML Living Standard 13.1.2.3 and OWASP's output-encoding rule for both contexts).
func escapeHTML(_ text: String, into output: inout String) {
    var pending = text.unicodeScalars.startIndex
    let scalars = text.unicodeScalars
    var index = scalars.startIndex
    while index != scalars.endIndex {
        let replacement: String?
        switch scalars[index] {
        case "&": replacement = "&amp;"
        case "<": replacement = "&lt;"
        case ">": replacement = "&gt;"
        case "\"": replacement = "&quot;"
        case "'": replacement = "&#39;"
        default: replacement = nil
        }
        if let replacement {
            output.unicodeScalars.append(contentsOf: scalars[pending..<index])
            output += replacement
            pending = scalars.index(after: index)
        }
        index = scalars.index(after: index)
    }
    output.unicodeScalars.append(contentsOf: scalars[pending..<scalars.endIndex])
}

func escapeHTML(_ text: String) -> String {
    var output = ""
    output.reserveCapacity(text.utf8.count)
    escapeHTML(text, into: &output)
    return output
}
