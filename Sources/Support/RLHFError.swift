import Foundation

/// Errors about user input: each names the file (and line or field) and what was expected, so the
/// CLI can print it as the whole story and exit non-zero.
public enum RLHFError: Error, CustomStringConvertible, LocalizedError {
    /// A file that is missing or cannot be read or written.
    case io(path: String, message: String)
    /// A line of a JSONL file that is not what its format requires.
    case invalidLine(path: String, line: Int, message: String)
    /// A file whose content is wrong as a whole (a config, a checkpoint, a tensor).
    case invalidFile(path: String, message: String)
    /// A flag or argument combination that cannot work.
    case invalidArgument(String)
    /// A training run that produced NaN or Inf.
    case nonFinite(step: Int, what: String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .invalidLine(path, line, message): return "\(path):\(line): \(message)"
        case let .invalidFile(path, message): return "\(path): \(message)"
        case let .invalidArgument(message): return message
        case let .nonFinite(step, what): return "step \(step): non-finite value (NaN or Inf) first seen in \(what)"
        }
    }

    public var errorDescription: String? { description }
}
