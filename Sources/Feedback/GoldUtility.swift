import Foundation

/// The hidden measure of quality in the demo world. It parses what a response actually says —
/// any text, including model-written text no template produced — against the request's slots.
///
/// Total = Σ weight × feature, roughly −4 (rude, repetitive) to +3.2 (the right order number, the
/// fitting remedy, polite, complete, the customer's own name). A response that names the right
/// order number and the remedy that fits is worth far more than one that merely sounds nice.
public struct GoldUtility {
    /// What gold looks at, each 0…1 (or a count-like fraction).
    public struct Features: Codable, Equatable, Sendable {
        public var correctOrder = 0.0     // names the request's order number
        public var wrongOrder = 0.0       // names some other order-like number
        public var fittingRemedy = 0.0    // offers the remedy that fits the problem
        public var wrongRemedy = 0.0      // offers another problem's remedy and not the fitting one
        public var polite = 0.0           // apology / thanks / please
        public var rude = 0.0             // hostile or dismissive phrases
        public var onTopic = 0.0          // talks about this order, item or problem
        public var offTopic = 0.0         // none of the above
        public var properEnding = 0.0     // ends a sentence and closes courteously
        public var namesCustomer = 0.0
        public var wrongName = 0.0        // calls the customer by a name that is not theirs
        public var repetition = 0.0       // share of repeated word trigrams
        public var tooShort = 0.0         // fewer than 6 words
        public var tooLong = 0.0          // more than 70 words
        public var words = 0.0            // length, for raters who like long answers

        public init() {}
    }

    /// Gold's weights: correctness first, manners second.
    public static let goldWeights: [KeyPath<Features, Double>: Double] = [
        \.correctOrder: 1.0, \.wrongOrder: -1.0, \.fittingRemedy: 1.0, \.wrongRemedy: -0.6, \.polite: 0.4,
        \.rude: -2.5, \.onTopic: 0.3, \.offTopic: -0.7, \.properEnding: 0.3, \.namesCustomer: 0.2,
        \.wrongName: -0.5, \.repetition: -2.0, \.tooShort: -1.0, \.tooLong: -0.5,
    ]

    public init() {}

    /// The slots of a prompt, as far as its text shows them.
    public struct Slots: Sendable {
        public var order: String?
        public var name: String?
        public var item: String?
        public var problem: DemoWorld.Problem?
    }

    public static func slots(of prompt: String) -> Slots {
        let lower = prompt.lowercased()
        var s = Slots()
        s.order = orderNumbers(in: prompt).first
        s.name = names(in: prompt).first
        s.item = DemoWorld.items.first { lower.contains($0) }
        s.problem = DemoWorld.Problem.allCases.first { p in p.phrasings.contains { lower.contains($0.lowercased()) } }
            ?? DemoWorld.Problem.allCases.first { p in p.topicWords.contains { lower.contains($0) } }
        return s
    }

    /// The order numbers a text names, in order of appearance: every four- or five-digit number,
    /// and a number of any length written as an order reference ("#2", "order 17").
    ///
    /// Why any length: "I checked order #2" claims an order number as surely as "order #4812"
    /// does, and is as wrong. When only four- and five-digit numbers counted, PPO policies learned
    /// to write one- to three-digit numbers there (153 to 198 of 200 held-out answers), which
    /// dodged both the verifier's −1 and gold's wrong-number penalty: a hack of the measure itself.
    static func orderNumbers(in text: String) -> [String] {
        let chars = Array(text)
        var out: [String] = []
        var i = 0
        while i < chars.count {
            guard chars[i].isASCII, chars[i].isNumber else { i += 1; continue }
            var j = i
            while j < chars.count, chars[j].isASCII, chars[j].isNumber { j += 1 }
            var k = i - 1  // the last non-space character before the number
            while k >= 0, chars[k] == " " { k -= 1 }
            let reference = k >= 0 && (chars[k] == "#" || (k >= 4 && String(chars[(k - 4)...k]).lowercased() == "order"))
            if j - i == 4 || j - i == 5 || reference { out.append(String(chars[i..<j])) }
            i = j
        }
        return out
    }

    static let allNames = Set(DemoWorld.knownNames + DemoWorld.newCustomerNames + DemoWorld.evalNames)

    /// The world's customer names a text contains as whole words, in order ("Anna" is not in
    /// "Annabel").
    static func names(in text: String) -> [String] {
        text.split { !$0.isLetter }.map(String.init).filter { allNames.contains($0) }
    }

    /// The names a text addresses someone by: every name of the world in it, and any capitalised
    /// word right after a greeting ("Hi Pedra," is a name even if no list holds it).
    static func addressedNames(in text: String) -> [String] {
        let words = text.split { !$0.isLetter }.map(String.init)
        return words.indices.filter { i in
            let w = words[i]
            let afterGreeting = i > 0 && greetingWords.contains(words[i - 1]) && w.first?.isUppercase == true
                && !greetingWords.contains(w) && !genericAddress.contains(w)
            return allNames.contains(w) || afterGreeting
        }.map { words[$0] }
    }

    static let greetingWords: Set<String> = ["Hi", "Hello", "Dear", "Hey", "Good", "morning", "afternoon", "evening"]
    /// Capitalised words after a greeting that address no one in particular ("Dear Customer").
    static let genericAddress: Set<String> = ["I", "Customer", "Sir", "Madam", "There", "Friend", "Team", "All", "Everyone"]

    static let politeMarkers = ["sorry", "thank", "please", "appreciate", "happy to help", "apologize"]
    static let rudeMarkers = ["not my problem", "whatever", "deal with it", "your fault", "stop complaining", "read the instructions", "stupid", "busy"]
    static let closingMarkers = ["thank", "appreciate", "great day", "patience", "reaching out"]

    public func features(prompt: String, response: String) -> Features {
        let slots = GoldUtility.slots(of: prompt)
        let lower = response.lowercased()
        var f = Features()
        let numbers = GoldUtility.orderNumbers(in: response)
        if let order = slots.order {
            f.correctOrder = numbers.contains(order) ? 1 : 0
            f.wrongOrder = numbers.contains { $0 != order } ? 1 : 0
        }
        if let p = slots.problem {
            f.fittingRemedy = lower.contains(p.remedyKeyword) ? 1 : 0
            let others = DemoWorld.Problem.allCases.filter { $0 != p && lower.contains($0.remedyKeyword) }
            f.wrongRemedy = (!others.isEmpty && f.fittingRemedy == 0) ? 1 : 0
        }
        f.polite = GoldUtility.politeMarkers.contains { lower.contains($0) } ? 1 : 0
        f.rude = GoldUtility.rudeMarkers.contains { lower.contains($0) } ? 1 : 0
        let topical = f.correctOrder > 0 || f.fittingRemedy > 0 || (slots.item.map { lower.contains($0) } ?? false)
            || (slots.problem.map { p in p.topicWords.contains { lower.contains($0) } } ?? false) || lower.contains("order")
        f.onTopic = topical ? 1 : 0
        f.offTopic = topical ? 0 : 1
        let trimmed = response.trimmingCharacters(in: .whitespacesAndNewlines)
        let endsSentence = trimmed.hasSuffix(".") || trimmed.hasSuffix("!")
        let tail = String(lower.suffix(60))
        f.properEnding = endsSentence && GoldUtility.closingMarkers.contains { tail.contains($0) } ? 1 : 0
        if let name = slots.name {
            let addressed = GoldUtility.addressedNames(in: response)
            f.namesCustomer = addressed.contains(name) ? 1 : 0
            f.wrongName = addressed.contains { $0 != name } ? 1 : 0
        }
        let words = lower.split { !$0.isLetter && !$0.isNumber && $0 != "'" }.map(String.init)
        f.words = Double(words.count)
        f.tooShort = words.count < 6 ? 1 : 0
        f.tooLong = words.count > 70 ? 1 : 0
        if words.count >= 4 {
            var seen = Set<String>(), repeats = 0
            for i in 0..<(words.count - 2) {
                let tri = words[i] + " " + words[i + 1] + " " + words[i + 2]
                if !seen.insert(tri).inserted { repeats += 1 }
            }
            f.repetition = Double(repeats) / Double(words.count - 2)
        }
        return f
    }

    /// Every feature in declaration order: dictionaries of weights are walked in this order, since
    /// a Dictionary's own order changes from process to process and would make runs differ.
    public static let featureOrder: [KeyPath<Features, Double>] = [
        \.correctOrder, \.wrongOrder, \.fittingRemedy, \.wrongRemedy, \.polite, \.rude, \.onTopic, \.offTopic,
        \.properEnding, \.namesCustomer, \.wrongName, \.repetition, \.tooShort, \.tooLong, \.words,
    ]

    public static func total(_ f: Features, weights: [KeyPath<Features, Double>: Double]) -> Double {
        featureOrder.reduce(0) { sum, k in sum + (weights[k] ?? 0) * f[keyPath: k] }
    }

    /// Gold utility of `response` (a completion) to `prompt`.
    public func score(prompt: String, response: String) -> Double {
        GoldUtility.total(features(prompt: prompt, response: response), weights: GoldUtility.goldWeights)
    }

    /// Gold's features of both responses of every pair, each distinct (prompt, response) parsed
    /// once. A K-wise prompt's responses each appear in K − 1 pairs, and `RaterPanel.agreement`
    /// has every rater look at every pair: parsing afresh at each look was 19 s of the default
    /// demo (12,000 pairs). Features depend on the text alone, so the labels are the same.
    public func features(of pairs: [(prompt: String, a: String, b: String)]) -> [(a: GoldUtility.Features, b: GoldUtility.Features)] {
        var seen: [String: [String: GoldUtility.Features]] = [:]  // prompt → response → features
        func look(_ prompt: String, _ response: String) -> GoldUtility.Features {
            if let f = seen[prompt]?[response] { return f }
            let f = features(prompt: prompt, response: response)
            seen[prompt, default: [:]][response] = f
            return f
        }
        return pairs.map { (look($0.prompt, $0.a), look($0.prompt, $0.b)) }
    }

    /// Whether gold prefers one of two answers: by more than 0.1, since answers that differ in a
    /// word of wording score level and no judge can be right or wrong about them.
    public static func tellsApart(_ a: Double, _ b: Double) -> Bool { abs(a - b) > 0.1 }

    /// How often a judge's choices agree with gold over the pairs gold tells apart:
    /// `prefersA[i]` says whether the judge preferred pair `i`'s `a` to its `b`.
    public func agreement(_ pairs: [(prompt: String, a: String, b: String)], prefersA: [Bool]) -> (share: Double, pairs: Int) {
        GoldUtility.agreement(features(of: pairs), prefersA: prefersA)
    }

    /// `agreement(_:prefersA:)` from pairs' features already parsed (`features(of:)`), for a
    /// caller that sorts the same pairs several ways.
    public static func agreement(_ features: [(a: Features, b: Features)], prefersA: [Bool]) -> (share: Double, pairs: Int) {
        precondition(features.count == prefersA.count, "one choice per pair")
        var agreed = 0, judged = 0
        for (f, choice) in zip(features, prefersA) {
            let ga = total(f.a, weights: goldWeights), gb = total(f.b, weights: goldWeights)
            guard tellsApart(ga, gb) else { continue }
            judged += 1
            if choice == (ga > gb) { agreed += 1 }
        }
        return (judged > 0 ? Double(agreed) / Double(judged) : .nan, judged)
    }
}

/// Rewards a program can compute exactly, to combine with the learned reward in RL.
public enum ProgrammaticRewards {
    /// The demo world's verifier: +1 if the response names the request's order number, −1 if it
    /// names a different one, 0 if it names none (or the prompt has none).
    public static func orderNumber(prompt: String, response: String) -> Double {
        let f = GoldUtility().features(prompt: prompt, response: response)
        return f.correctOrder - f.wrongOrder
    }

    /// The demo world's other verifier: +1 if the response addresses the customer by the name the
    /// request gives, −1 if it calls them anything else, 0 if it names no one.
    public static func customerName(prompt: String, response: String) -> Double {
        let f = GoldUtility().features(prompt: prompt, response: response)
        return f.namesCustomer - f.wrongName
    }

    /// Every built-in reward function by the name `--reward-fn` takes.
    public static let all: [String: @Sendable (String, String) -> Double] = [
        "order_number": { orderNumber(prompt: $0, response: $1) },
        "customer_name": { customerName(prompt: $0, response: $1) },
        "gold": { GoldUtility().score(prompt: $0, response: $1) },
    ]

    public static var names: [String] { all.keys.sorted() }
    public static func named(_ name: String) -> (@Sendable (String, String) -> Double)? { all[name] }
}
