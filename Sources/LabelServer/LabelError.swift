/// Errors of the labeling store and its commands, each naming what was wrong.
public enum LabelError: Error, CustomStringConvertible, Equatable {
    case database(path: String, message: String)
    case raterExists(String)
    case noSuchRater(String)
    case invalidName(String)
    case noSuchItem(Int64)
    case notAssigned(item: Int64)

    public var description: String {
        switch self {
        case let .database(path, message): return "\(path): cannot open the labeling database (\(message))"
        case let .raterExists(name): return "a rater named \"\(name)\" already exists (a lost token is replaced with `rlhf label new-token \(name)`)"
        case let .noSuchRater(name): return "no rater named \"\(name)\" (`rlhf label raters` lists them)"
        case let .invalidName(why): return "invalid rater name: \(why)"
        case let .noSuchItem(id): return "no comparison with id \(id)"
        case let .notAssigned(item): return "comparison \(item) is not assigned to you"
        }
    }
}
