import Foundation

/// The embedded demo world: customer-support requests about an order, and agent responses of
/// mixed quality whose true worth `GoldUtility` can measure. Seeded; no downloads.
///
/// Text format, shared by every stage: a prompt is `"Customer: …\nAgent:"`, a completion starts
/// with a space, and the text a reward model scores is `prompt + completion`.
public enum DemoWorld {
    public enum Problem: String, CaseIterable, Codable, Sendable {
        case late, damaged, wrongItem, refund, missingPart

        /// How customers say it (the world's prompts pick one).
        var phrasings: [String] {
            switch self {
            case .late: return ["has not arrived yet", "is two weeks late", "still has not been delivered", "never showed up"]
            case .damaged: return ["arrived broken", "came damaged", "was cracked when I opened the box", "arrived smashed"]
            case .wrongItem: return ["contained the wrong item", "had someone else's product in it", "was not what I ordered", "came with the wrong model"]
            case .refund: return ["needs to be refunded", "is something I want my money back for", "should be refunded please", "is one I would like to return for a refund"]
            case .missingPart: return ["is missing a part", "came without the charger", "arrived with pieces missing", "is incomplete"]
            }
        }

        /// The remedy that fits, in several wordings; each contains `remedyKeyword`.
        var remedies: [String] {
            switch self {
            case .late: return ["I have expedited a replacement that ships today", "I expedited a new shipment for you", "a replacement is expedited and leaves today"]
            case .damaged: return ["I am sending a free replacement right away", "a free replacement is on its way", "I arranged a free replacement for you"]
            case .wrongItem: return ["I emailed a return label and the correct item ships today", "you will get a return label and the correct item", "a return label is in your inbox and the correct item is on its way"]
            case .refund: return ["I have issued a full refund to your card", "a full refund is on its way to your card", "I processed a full refund for you"]
            case .missingPart: return ["I am shipping the missing part today", "the missing part ships to you today", "I sent the missing part by express mail"]
            }
        }

        /// The phrase gold checks for; exactly one remedy family contains each.
        public var remedyKeyword: String {
            switch self {
            case .late: return "expedite"
            case .damaged: return "free replacement"
            case .wrongItem: return "return label"
            case .refund: return "full refund"
            case .missingPart: return "missing part"
            }
        }

        /// Words that show a response talks about this problem.
        var topicWords: [String] {
            switch self {
            case .late: return ["late", "delay", "arrive", "deliver", "shipment"]
            case .damaged: return ["damage", "broken", "crack", "smash"]
            case .wrongItem: return ["wrong", "correct item", "mix-up"]
            case .refund: return ["refund", "money"]
            case .missingPart: return ["missing", "part", "incomplete"]
            }
        }

        var empathy: [String] {
            switch self {
            case .late: return ["your order is late", "the delivery is delayed", "your package has not arrived"]
            case .damaged: return ["it arrived damaged", "your order came broken", "about the damage"]
            case .wrongItem: return ["you got the wrong item", "about the mix-up", "we sent the wrong product"]
            case .refund: return ["it did not work out", "you were disappointed", "the product let you down"]
            case .missingPart: return ["a part is missing", "your order is incomplete", "a piece was left out"]
            }
        }
    }

    /// The slots of one request.
    public struct Request: Equatable, Sendable {
        public var name: String
        public var order: String
        public var item: String
        public var problem: Problem
        public var prompt: String
    }

    /// The styles responses come in, best to worst by design.
    public enum Style: String, CaseIterable, Codable, Sendable {
        case helpful, wrongRemedy, wrongOrder, terse, offTopic, repetitive, rude
    }

    /// Who writes in, in three groups that share no name. `knownNames`: the customers in the
    /// shop's records, the pretraining corpus and the demonstrations. `newCustomerNames`: new
    /// customers, who write the RL prompts (and the prompts whose answers the raters compare).
    /// `evalNames`: the held-out prompts' customers, in nothing any model trains on.
    ///
    /// Why so many known names: greeting the customer by name should take copying it from the
    /// request. With 32 the tiny model guessed one of them (the SFT model named the right customer
    /// in 7% of its answers) and never learned to copy; with 127 it copies a known name (98%).
    /// A name it never read, several tokens long, it still gets wrong (the SFT model called 96%
    /// of held-out customers by some other name). The new customers' requests let RL meet that
    /// problem; PPO learns to greet them without a name rather than with a wrong one.
    static let knownNames = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kara", "Liam", "Maya", "Nina",
                            "Omar", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xena", "Yusuf", "Zoe", "Aiko", "Bruno",
                            "Chloe", "Dmitri", "Emma", "Felix", "Adele", "Boris", "Cyrus", "Dalia", "Edgar", "Fatima", "Gideon", "Helga", "Igor", "Jasmin",
                            "Kenji", "Lucia", "Mateo", "Nadia", "Oscar", "Priya", "Rafael", "Sofia", "Tomas", "Ursula", "Victor", "Wanda", "Yara", "Zane",
                            "Amir", "Bianca", "Conrad", "Daria", "Esther", "Flora", "Gustav", "Hana", "Ivan", "Julia", "Karim", "Leila", "Milan", "Nora",
                            "Otto", "Petra", "Ruth", "Selim", "Thea", "Vince", "Walter", "Yasmin", "Zora", "Alba", "Basil", "Celia", "Dario", "Elif",
                            "Fabio", "Gemma", "Henrik", "Irene", "Joel", "Kamal", "Lotte", "Magnus", "Nell", "Orla", "Pablo", "Rhea", "Silas", "Tilda",
                            "Uri", "Viola", "Wes", "Yuki", "Zeno", "Arjun", "Bea", "Cosmo", "Daphne", "Enzo", "Freya", "Gino", "Hattie", "Ilse",
                            "Jude", "Keira", "Lars", "Mirela", "Nico", "Odile", "Piet", "Romy", "Sven", "Talia", "Ugo", "Vito", "Wren", "Ximena",
                            "Yves"]
    static let newCustomerNames = ["Abel", "Berit", "Carmen", "Dusan", "Eliza", "Fern", "Gwen", "Hollis", "Ida", "Jorge", "Kirsi", "Linus", "Maren", "Nuno",
                                  "Ottilie", "Prem", "Rana", "Stellan", "Tove", "Una", "Valter", "Wilma", "Yosef", "Zsofia", "Aurelio", "Blessing", "Casimir", "Dilnoza",
                                  "Emeka", "Fiadh", "Goran", "Harriet", "Isak", "Juniper", "Kwame", "Liesel", "Mehmet", "Nkechi", "Orrin", "Philippa"]
    static let evalNames = ["Greta", "Hiro", "Iris", "Jamal", "Kofi", "Lena", "Marco", "Noor", "Olga", "Pedro", "Amara", "Bodhi", "Cleo", "Dante",
                           "Eero", "Femi", "Gaia", "Hamid", "Ingrid", "Jiro", "Kasia", "Lorcan", "Mina", "Nils", "Oona", "Paolo", "Ravi", "Saoirse",
                           "Tobias", "Ulla"]
    static let items = ["laptop", "blender", "headphones", "desk lamp", "coffee maker", "backpack", "phone case", "keyboard",
                        "monitor", "toaster", "camera", "printer", "kettle", "router", "vacuum", "microwave"]
    static let greetings = ["Hi", "Hello", "Dear", "Good morning"]
    static let namelessGreetings = ["Hi,", "Hello,", "Hi there,", "Good morning,"]
    static let closings = ["Thank you for your patience!", "Have a great day!", "Thanks for reaching out!", "We appreciate your patience."]
    static let promptTemplates = [
        "Customer: Hi, I'm {name}. My order #{order} ({item}) {problem}.\nAgent:",
        "Customer: Hello, this is {name}. Order #{order}, a {item}, {problem}.\nAgent:",
        "Customer: {name} here. The {item} from order #{order} {problem}. Can you help?\nAgent:",
        "Customer: My name is {name} and my {item} (order #{order}) {problem}.\nAgent:",
    ]

    /// The groups of customers (see `knownNames`).
    public enum Customers: Sendable { case known, new, heldOut }

    /// A request from one of the groups of customers, its other slots drawn from the same pools.
    public static func request(_ rng: inout WorldRNG, from customers: Customers = .known) -> Request {
        let name = rng.pick(customers == .known ? knownNames : customers == .new ? newCustomerNames : evalNames)
        let order = String(1000 + rng.below(9000))
        let item = rng.pick(items)
        let problem = rng.pick(Problem.allCases)
        let template = rng.pick(promptTemplates)
        let prompt = template.replacingOccurrences(of: "{name}", with: name).replacingOccurrences(of: "{order}", with: order)
            .replacingOccurrences(of: "{item}", with: item).replacingOccurrences(of: "{problem}", with: rng.pick(problem.phrasings))
        return Request(name: name, order: order, item: item, problem: problem, prompt: prompt)
    }

    /// The request a prompt of this world states, read back from its text; nil when the text
    /// lacks a slot (a prompt this world did not write).
    public static func request(parsing prompt: String) -> Request? {
        let s = GoldUtility.slots(of: prompt)
        guard let name = s.name, let order = s.order, let item = s.item, let problem = s.problem else { return nil }
        return Request(name: name, order: order, item: item, problem: problem, prompt: prompt)
    }

    /// `n` answers to `prompt` by the world's own writers, each in a style drawn evenly from the
    /// seven, or nil when the prompt is not one of this world's (its slots do not read back).
    ///
    /// Why evenly: raters comparing these with a model's answers, and with each other, judge
    /// every style against every other, including the two that only a fact tells apart (a
    /// wrong order number, a wrong remedy), which a model's samples show them only now and then.
    public static func writtenAnswers(to prompt: String, n: Int, _ rng: inout WorldRNG) -> [String]? {
        guard let r = request(parsing: prompt) else { return nil }
        return (0..<n).map { _ in response(r, style: rng.pick(Style.allCases), &rng) }
    }

    /// The random stream `writtenAnswers` draws from for a seed: one of its own, so that adding
    /// the world's answers leaves every other draw of a run as it was; `rlhf demo` and
    /// `rlhf world answer` share it, and give the same answers for the same seed.
    public static func writers(seed: UInt64) -> WorldRNG { WorldRNG(seed: seed ^ 0x7E3B) }

    /// A response in `style` to `r`, starting with a space as a completion does.
    public static func response(_ r: Request, style: Style, _ rng: inout WorldRNG) -> String {
        func wrongOrder() -> String {
            var o = r.order
            while o == r.order { o = String(1000 + rng.below(9000)) }
            return o
        }
        // A quarter of answers greet no one by name, as people writing answers vary. Without them
        // no model ever wrote a greeting without a name, so a policy calling a new customer by a
        // wrong one had no better answer of its own to find: PPO with the name verifier went from
        // 95% wrong names to 92% in 50 iterations.
        let greet = rng.unit() < 0.25 ? rng.pick(namelessGreetings) : "\(rng.pick(greetings)) \(r.name),"
        let sorry = "I'm sorry \(rng.pick(r.problem.empathy))."
        let close = rng.pick(closings)
        switch style {
        case .helpful:
            return " \(greet) \(sorry) I checked order #\(r.order) and \(rng.pick(r.problem.remedies)). \(close)"
        case .wrongOrder:
            return " \(greet) \(sorry) I checked order #\(wrongOrder()) and \(rng.pick(r.problem.remedies)). \(close)"
        case .wrongRemedy:
            let other = rng.pick(Problem.allCases.filter { $0 != r.problem })
            return " \(greet) \(sorry) I checked order #\(r.order) and \(rng.pick(other.remedies)). \(close)"
        case .terse:
            return " " + rng.pick(["Ok.", "Noted.", "Will check.", "Order #\(r.order) noted.", "We will look into it."])
        case .offTopic:
            return " " + rng.pick(["Did you know our store opens at nine on weekends? We also sell gift cards.",
                                   "Our summer sale starts next week with great deals on garden furniture.",
                                   "Please rate our app in the store, it really helps us grow."])
        case .repetitive:
            let phrase = rng.pick(["thank you", "we are sorry", "please wait", "order received"])
            return " " + Array(repeating: phrase, count: 6 + rng.below(4)).joined(separator: " ") + "."
        case .rude:
            return " " + rng.pick(["That is not my problem. Read the instructions next time.",
                                   "Whatever. Deal with it yourself, we are busy.",
                                   "Stop complaining about your \(r.item), it is your fault."])
        }
    }

    /// An order notice of the kind a shop's mail and tickets are full of, in which the order number
    /// and a random code each recur. Why they are in the pretraining corpus: copying from the
    /// context is what a pretrained model is expected to bring to RLHF, and from the
    /// conversations alone (one number to copy per document, and a quarter of the copies wrong)
    /// the tiny model learned it by step 2000 at some seeds and not at others: among the corpus's
    /// first 1,200 documents, its greedy guess of an order number that the answer copies was right
    /// in 83%, 95% and 3% at seeds 0, 1 and 2, and with a quarter as many notices as conversations
    /// in 99–100% (`Scripts/reference/copy_check.py`; README, "PPO"). Held-out customer names stay out of them, as out of everything the models train on.
    static func notice(_ rng: inout WorldRNG) -> String {
        let name = rng.pick(knownNames), order = String(1000 + rng.below(9000)), item = rng.pick(items)
        let letters = Array("ABCDEFGHJKLMNPQRSTUVWXYZ")
        let code = String((0..<2).map { _ in rng.pick(letters) }) + String(100 + rng.below(900))
        switch rng.below(4) {
        case 0:
            return "Shipping update for \(name): the \(item) from order #\(order) is on its way with tracking number \(code). To follow order #\(order), enter \(code) on our website."
        case 1:
            return "Receipt for order #\(order)\nCustomer: \(name)\nItem: \(item)\nThank you for shopping with us, \(name). Please keep receipt #\(order) for returns."
        case 2:
            return "Return approved for order #\(order) (\(item)). \(name), please print label \(code) and attach label \(code) to the box of order #\(order)."
        default:
            return "Team note: \(name) wrote about the \(item) in order #\(order). Quote order #\(order) and ticket \(code) in every reply to \(name)."
        }
    }

    /// How many of each file `write` produces.
    public struct Sizes: Codable, Sendable {
        /// Conversations (a request and a response in one of the styles) in the pretraining corpus.
        public var pretrain = 12_000
        /// Order notices mixed into the pretraining corpus (see `notice`).
        public var notices = 3_000
        public var sft = 3_000
        public var prompts = 2_000
        public var evalPrompts = 200
        public init() {}
    }

    /// The style mix of the pretraining corpus (all styles, as the web has them).
    static let pretrainMix: [(Style, Double)] = [(.helpful, 0.3), (.wrongOrder, 0.15), (.wrongRemedy, 0.15), (.terse, 0.1),
                                                 (.offTopic, 0.1), (.repetitive, 0.1), (.rude, 0.1)]
    /// Demonstrations are good but imperfect, as human demos are: RL has headroom above SFT.
    static let sftMix: [(Style, Double)] = [(.helpful, 0.6), (.wrongOrder, 0.15), (.wrongRemedy, 0.15), (.terse, 0.1)]

    static func pickStyle(_ mix: [(Style, Double)], _ rng: inout WorldRNG) -> Style {
        var u = rng.unit()
        for (s, p) in mix { u -= p; if u < 0 { return s } }
        return mix.last!.0
    }

    /// Every file of the world, in memory.
    public struct Files {
        public var pretrain: [TextRecord] = []
        public var sft: [SFTRecord] = []
        public var prompts: [PromptRecord] = []
        public var evalPrompts: [PromptRecord] = []
    }

    public static func generate(seed: UInt64, sizes: Sizes = Sizes()) -> Files {
        var rng = WorldRNG(seed: seed)
        var f = Files()
        for _ in 0..<sizes.pretrain {
            let r = request(&rng)
            f.pretrain.append(TextRecord(text: r.prompt + response(r, style: pickStyle(pretrainMix, &rng), &rng)))
        }
        for _ in 0..<sizes.sft {
            let r = request(&rng)
            f.sft.append(SFTRecord(prompt: r.prompt, completion: response(r, style: pickStyle(sftMix, &rng), &rng)))
        }
        for _ in 0..<sizes.prompts { f.prompts.append(PromptRecord(prompt: request(&rng, from: .new).prompt)) }
        for _ in 0..<sizes.evalPrompts { f.evalPrompts.append(PromptRecord(prompt: request(&rng, from: .heldOut).prompt)) }
        // From a stream of their own, so the conversations, demonstrations and prompts above are
        // the same with or without them; each goes in at a random place in the corpus.
        var noticeRNG = WorldRNG(seed: seed ^ 0x6E6F_7469_6365)
        for _ in 0..<sizes.notices {
            let at = noticeRNG.below(f.pretrain.count + 1)
            f.pretrain.insert(TextRecord(text: notice(&noticeRNG)), at: at)
        }
        return f
    }
}
