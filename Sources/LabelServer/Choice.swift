/// A rater's answer about responses A and B of a comparison.
public enum Choice: String, CaseIterable, Sendable, Codable {
    case a
    case b
    case tie
    case bothBad = "both_bad"

    /// The answer in terms of A and B from what the rater clicked, given the side A was shown on.
    public init?(side: String, aOnLeft: Bool) {
        switch side {
        case "left": self = aOnLeft ? .a : .b
        case "right": self = aOnLeft ? .b : .a
        case "tie": self = .tie
        case "both_bad": self = .bothBad
        default: return nil
        }
    }

    /// The same answer about the comparison with A and B swapped.
    public var swappingSides: Choice {
        switch self {
        case .a: return .b
        case .b: return .a
        case .tie, .bothBad: return self
        }
    }
}
