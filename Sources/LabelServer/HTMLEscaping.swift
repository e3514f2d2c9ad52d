/// Escaping for text placed in HTML. Every prompt, response, rater name and reason comes from
/// outside (imported files, raters' typing, a model's samples), so nothing reaches a page
/// without going through here.
public enum HTML {
    /// Text safe inside element content and inside double- or single-quoted attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
