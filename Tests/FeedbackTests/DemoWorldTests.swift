import XCTest
@testable import Feedback

final class DemoWorldTests: XCTestCase {
    let gold = GoldUtility()

    func meanGold(_ style: DemoWorld.Style, n: Int = 400) -> Double {
        var rng = WorldRNG(seed: 7)
        var total = 0.0
        for _ in 0..<n {
            let r = DemoWorld.request(&rng)
            total += gold.score(prompt: r.prompt, response: DemoWorld.response(r, style: style, &rng))
        }
        return total / Double(n)
    }

    /// Helpful > wrong remedy > wrong order number > off-topic > terse > repetitive > rude.
    func testGoldRanksStylesInTheIntendedOrder() {
        let order: [DemoWorld.Style] = [.helpful, .wrongRemedy, .wrongOrder, .offTopic, .terse, .repetitive, .rude]
        let means = order.map { meanGold($0) }
        for i in 0..<(means.count - 1) {
            XCTAssertGreaterThan(means[i], means[i + 1], "\(order[i]) (\(means[i])) should beat \(order[i + 1]) (\(means[i + 1]))")
        }
    }

    func testGoldScoresModelWrittenTextSensibly() {
        let prompt = "Customer: Hi, I'm Anna. My order #4821 (blender) arrived broken.\nAgent:"
        let perfect = gold.score(prompt: prompt, response: " Hi Anna, I'm sorry it arrived damaged. I checked order #4821 and a free replacement is on its way. Thank you for your patience!")
        let typos = gold.score(prompt: prompt, response: " hi anna sory about the brokn blender, order #4821 gets a free replacement. thank you!")
        let wrongNumber = gold.score(prompt: prompt, response: " Hi Anna, I'm so sorry it arrived damaged. I checked order #4812 and a free replacement is on its way. Thank you for your patience!")
        let partial = gold.score(prompt: prompt, response: " Hi Anna, I'm sorry it arrived damaged. I checked order #48")
        let loop = gold.score(prompt: prompt, response: " thank you thank you thank you thank you thank you thank you thank you")
        let rude = gold.score(prompt: prompt, response: " Not my problem.")
        XCTAssertGreaterThan(perfect, typos)
        XCTAssertGreaterThan(typos, wrongNumber, "a correct, sloppy answer beats a polished wrong one")
        XCTAssertGreaterThan(wrongNumber, partial)
        XCTAssertGreaterThan(partial, loop)
        XCTAssertGreaterThan(loop, rude)
        let f = gold.features(prompt: prompt, response: " Hi Anna, I checked order #4812.")
        XCTAssertEqual(f.wrongOrder, 1)
        XCTAssertEqual(f.correctOrder, 0)
    }

    /// Pairs are sorted by the fact they differ in, read from the text as gold reads it; pairs
    /// whose shared fact is wrong in both, that differ in nothing, or whose answers lack a fact
    /// or mix a right and a wrong number are not sorted.
    func testFactContrastNamesTheOneFactTwoAnswersDifferIn() {
        let prompt = "Customer: Hi, I'm Anna. My order #4821 (blender) arrived broken.\nAgent:"
        func kind(_ a: String, _ b: String) -> FactContrast? {
            FactContrast.of(gold.features(prompt: prompt, response: a), gold.features(prompt: prompt, response: b))
        }
        let right = " Hi Anna, I'm sorry. I checked order #4821 and a free replacement is on its way."
        let nearMiss = " Hello, sorry about that. I checked order #4822 and a free replacement is on its way!"
        let wrongRemedy = " Hi Anna, I'm sorry. I checked order #4821 and I have issued a full refund to your card."
        let bothWrong = " Hi Anna. Order #1111: a full refund is on its way to your card."
        XCTAssertEqual(kind(right, nearMiss), .orderNumber)
        XCTAssertEqual(kind(nearMiss, right), .orderNumber, "the order of the two answers does not matter")
        XCTAssertEqual(kind(right, wrongRemedy), .remedy)
        XCTAssertEqual(kind(wrongRemedy, right), .remedy)
        XCTAssertEqual(kind(wrongRemedy, nearMiss), .numberAgainstRemedy)
        XCTAssertEqual(kind(nearMiss, wrongRemedy), .numberAgainstRemedy)
        XCTAssertNil(kind(right, bothWrong), "both facts wrong in one answer")
        XCTAssertNil(kind(bothWrong, nearMiss), "the remedies differ, but both numbers are wrong")
        XCTAssertNil(kind(wrongRemedy, bothWrong), "the numbers differ, but both remedies are wrong")
        XCTAssertNil(kind(right, " Hi Anna, a free replacement is on its way."), "no order number")
        XCTAssertNil(kind(right, " Hi Anna, I checked order #4822 for you."), "no remedy")
        XCTAssertNil(kind(right, " I checked order #4821 and #4822 and a free replacement is on its way."), "a right and a wrong number")
        XCTAssertNil(kind(right, right))
        // Gold counts an answer with the fitting remedy as fitting whatever else it offers.
        let fittingAndMore = " I checked order #4821, sorry. A free replacement is on its way, and a full refund too."
        XCTAssertEqual(kind(nearMiss, fittingAndMore), .orderNumber)
        XCTAssertEqual(kind(wrongRemedy, fittingAndMore), .remedy)
        // The world's own answers: a wrong order number against a helpful one, every time.
        var rng = WorldRNG(seed: 3)
        for _ in 0..<50 {
            let r = DemoWorld.request(&rng)
            let features = [DemoWorld.Style.helpful, .wrongOrder, .wrongRemedy].map { gold.features(prompt: r.prompt, response: DemoWorld.response(r, style: $0, &rng)) }
            XCTAssertEqual(FactContrast.of(features[0], features[1]), .orderNumber)
            XCTAssertEqual(FactContrast.of(features[0], features[2]), .remedy)
            XCTAssertEqual(FactContrast.of(features[1], features[2]), .numberAgainstRemedy)
        }
    }

    /// A judge agrees with gold on the pairs gold tells apart and is not counted on the others.
    func testAgreementWithGoldCountsOnlyPairsGoldTellsApart() {
        let prompt = "Customer: Hi, I'm Anna. My order #4821 (blender) arrived broken.\nAgent:"
        let right = " Hi Anna, I'm sorry. I checked order #4821 and a free replacement is on its way."
        let wrong = " Hi Anna, I'm sorry. I checked order #4822 and a free replacement is on its way."
        let reworded = " Hi Anna, I'm sorry. I looked up order #4821 and a free replacement is on its way."
        let pairs = [(prompt: prompt, a: right, b: wrong), (prompt: prompt, a: wrong, b: right), (prompt: prompt, a: right, b: reworded)]
        let a = gold.agreement(pairs, prefersA: [true, true, false])
        XCTAssertEqual(a.pairs, 2, "a rewording is level by gold")
        XCTAssertEqual(a.share, 0.5, accuracy: 1e-12)
        XCTAssertEqual(gold.agreement(pairs, prefersA: [true, false, true]).share, 1, accuracy: 1e-12)
        XCTAssertTrue(gold.agreement([(prompt: prompt, a: right, b: reworded)], prefersA: [true]).share.isNaN)
        // The threshold: level within 0.1, apart beyond it (naming the customer is worth 0.2).
        XCTAssertFalse(GoldUtility.tellsApart(1, 1.05))
        XCTAssertTrue(GoldUtility.tellsApart(1, 1.2))
        let unnamed = " Hi there, I'm sorry. I checked order #4821 and a free replacement is on its way."
        XCTAssertEqual(gold.agreement([(prompt: prompt, a: right, b: unnamed)], prefersA: [true]).pairs, 1)
        // The cached features are those of each text parsed alone.
        let f = gold.features(of: pairs)
        XCTAssertEqual(f[1].a, gold.features(prompt: prompt, response: wrong))
        XCTAssertEqual(f[2].b, gold.features(prompt: prompt, response: reworded))
    }

    func testProgrammaticOrderNumberReward() {
        let prompt = "Customer: Order #1234, a kettle, is two weeks late.\nAgent:"
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " Order #1234 is expedited."), 1)
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " Order #4321 is expedited."), -1)
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " It is expedited."), 0)
        // A short number written as an order reference is a wrong order number, not none: PPO
        // learned to write "order #2" when only four- and five-digit numbers were checked.
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " I checked order #2 and it is expedited."), -1)
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " Your order 17 is expedited."), -1)
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " Order # 123456 is expedited."), -1)
        XCTAssertEqual(ProgrammaticRewards.orderNumber(prompt: prompt, response: " It ships in 2 days, within 48 hours."), 0)
        XCTAssertEqual(GoldUtility.orderNumbers(in: "order #2, Order 17, #3 and 12345; 7 days"), ["2", "17", "3", "12345"])
        XCTAssertNotNil(ProgrammaticRewards.named("order_number"))
        XCTAssertNil(ProgrammaticRewards.named("nope"))
    }

    /// Calling the customer by another's name is an error of fact, as a wrong order number is:
    /// every model greeted held-out customers by some training name before gold counted it.
    func testGoldPenalisesTheWrongNameAndReadsNamesAsWords() {
        let prompt = "Customer: Hi, I'm Pedro. My order #4821 (blender) arrived broken.\nAgent:"
        let body = " I'm sorry it arrived damaged. I checked order #4821 and a free replacement is on its way. Thank you for your patience!"
        let right = gold.score(prompt: prompt, response: " Hi Pedro," + body)
        let none = gold.score(prompt: prompt, response: " Hi," + body)
        let known = gold.score(prompt: prompt, response: " Hi Grace," + body)
        let invented = gold.score(prompt: prompt, response: " Dear Pedra," + body)
        XCTAssertEqual(right - none, 0.2, accuracy: 1e-9)
        XCTAssertEqual(none - known, 0.5, accuracy: 1e-9)
        XCTAssertEqual(known, invented, accuracy: 1e-9, "a capitalised word after a greeting is a name even if no list holds it")
        XCTAssertEqual(gold.score(prompt: prompt, response: " Dear Customer," + body), none, accuracy: 1e-9)
        XCTAssertEqual(gold.score(prompt: prompt, response: " Good morning Pedro," + body), right, accuracy: 1e-9)
        // Names are whole words: "Anna" is not in "Annabel", "Ben" not in "Bench".
        XCTAssertEqual(GoldUtility.names(in: "Annabel sat on the Bench with Anna."), ["Anna"])
        XCTAssertEqual(GoldUtility.slots(of: prompt).name, "Pedro")
        XCTAssertEqual(ProgrammaticRewards.customerName(prompt: prompt, response: " Hi Pedro," + body), 1)
        XCTAssertEqual(ProgrammaticRewards.customerName(prompt: prompt, response: " Hello Grace," + body), -1)
        XCTAssertEqual(ProgrammaticRewards.customerName(prompt: prompt, response: " Hello," + body), 0)
        XCTAssertNotNil(ProgrammaticRewards.named("customer_name"))
    }

    /// No name is part of another, or of a word the prompts are written with, so finding the
    /// customer's name in a request is unambiguous.
    func testNamesAreUnambiguous() {
        let all = DemoWorld.knownNames + DemoWorld.newCustomerNames + DemoWorld.evalNames
        XCTAssertEqual(Set(all).count, all.count)
        for a in all { for b in all where a != b { XCTAssertFalse(b.contains(a), "\(a) is inside \(b)") } }
        var rng = WorldRNG(seed: 11)
        for customers in [DemoWorld.Customers.known, .new, .heldOut] {
            for _ in 0..<300 {
                let r = DemoWorld.request(&rng, from: customers)
                XCTAssertEqual(GoldUtility.names(in: r.prompt), [r.name], r.prompt)
            }
        }
    }

    func testSameSeedSameWorldAndHeldOutNamesAreDisjoint() {
        var sizes = DemoWorld.Sizes()
        sizes.pretrain = 50; sizes.sft = 20; sizes.prompts = 20; sizes.evalPrompts = 20
        let a = DemoWorld.generate(seed: 3, sizes: sizes), b = DemoWorld.generate(seed: 3, sizes: sizes)
        XCTAssertEqual(a.pretrain, b.pretrain)
        XCTAssertEqual(a.sft, b.sft)
        XCTAssertNotEqual(a.sft, DemoWorld.generate(seed: 4, sizes: sizes).sft)
        for p in a.evalPrompts { XCTAssertTrue(GoldUtility.names(in: p.prompt).allSatisfy(DemoWorld.evalNames.contains), p.prompt) }
        for p in a.prompts { XCTAssertTrue(GoldUtility.names(in: p.prompt).allSatisfy(DemoWorld.newCustomerNames.contains), p.prompt) }
        for r in a.sft { XCTAssertTrue(GoldUtility.names(in: r.prompt + r.completion).allSatisfy(DemoWorld.knownNames.contains), r.prompt) }
        XCTAssertTrue(a.sft.allSatisfy { $0.prompt.hasSuffix("\nAgent:") && $0.completion.hasPrefix(" ") })
    }

    /// The demo's world-written answers start from the prompt text: every request of every
    /// group of customers reads back as itself, and text the world did not write reads as nil.
    func testRequestsReadBackFromTheirPrompts() {
        var rng = WorldRNG(seed: 11)
        for customers in [DemoWorld.Customers.known, .new, .heldOut] {
            for _ in 0..<300 {
                let r = DemoWorld.request(&rng, from: customers)
                XCTAssertEqual(DemoWorld.request(parsing: r.prompt), r, r.prompt)
            }
        }
        XCTAssertNil(DemoWorld.request(parsing: "Customer: Hi, I'm Anna. My blender is broken.\nAgent:"))
        XCTAssertNil(DemoWorld.request(parsing: ""))
    }

    /// The world's writers answer in every style, about equally often (what the raters are to
    /// compare), reproducibly, and only prompts of this world.
    func testWrittenAnswersCoverEveryStyleEvenly() {
        var rng = WorldRNG(seed: 5)
        let r = DemoWorld.request(&rng, from: .new)
        var a = WorldRNG(seed: 9), b = WorldRNG(seed: 9)
        let answers = DemoWorld.writtenAnswers(to: r.prompt, n: 1400, &a)!
        XCTAssertEqual(answers, DemoWorld.writtenAnswers(to: r.prompt, n: 1400, &b))
        // Styles told apart by their wording: rude and off-topic answers by their stock
        // sentences, helpful and wrong-remedy ones by the right order number.
        let golds = answers.map { gold.score(prompt: r.prompt, response: $0) }
        let rude = answers.filter { ["not my problem", "Whatever.", "Stop complaining"].contains(where: $0.contains) }.count
        let offTopic = answers.filter { ["summer sale", "opens at nine", "rate our app"].contains(where: $0.contains) }.count
        let right = answers.filter { $0.contains("order #\(r.order) and") }.count  // helpful or wrong remedy
        for (count, share) in [(rude, 1.0 / 7), (offTopic, 1.0 / 7), (right, 2.0 / 7)] {
            XCTAssertEqual(Double(count) / 1400, share, accuracy: 0.04)
        }
        XCTAssertLessThan(golds.min()!, 0)
        XCTAssertGreaterThan(golds.max()!, 2.5)
        XCTAssertNil(DemoWorld.writtenAnswers(to: "Customer: where is my parcel?\nAgent:", n: 1, &a))
    }

    /// Notices are drawn from their own stream: adding them leaves every other file of the world
    /// as it was, and each one gives a model its order number (and code) to copy.
    func testNoticesRepeatTheirNumbersAndLeaveTheRestOfTheWorldAlone() throws {
        var plain = DemoWorld.Sizes()
        plain.pretrain = 200; plain.sft = 20; plain.prompts = 20; plain.evalPrompts = 20; plain.notices = 0
        var mixed = plain
        mixed.notices = 60
        let a = DemoWorld.generate(seed: 5, sizes: plain), b = DemoWorld.generate(seed: 5, sizes: mixed)
        XCTAssertEqual(a.sft, b.sft)
        XCTAssertEqual(a.prompts, b.prompts)
        XCTAssertEqual(a.evalPrompts, b.evalPrompts)
        XCTAssertEqual(b.pretrain.count, 260)
        let notices = b.pretrain.filter { !$0.text.hasPrefix("Customer:") }
        XCTAssertEqual(notices.count, 60)
        XCTAssertEqual(b.pretrain.filter { $0.text.hasPrefix("Customer:") }, a.pretrain, "conversations keep their order")
        XCTAssertNotEqual(b.pretrain.prefix(20).map(\.text), a.pretrain.prefix(20).map(\.text), "notices are spread through the corpus")
        for n in notices {
            let numbers = GoldUtility.orderNumbers(in: n.text)
            XCTAssertGreaterThanOrEqual(numbers.count, 2, n.text)
            XCTAssertEqual(Set(numbers).count, 1, n.text)
            XCTAssertNil(DemoWorld.evalNames.first { n.text.contains($0) }, "held-out names stay out of training: \(n.text)")
        }
    }

    func pairs(_ n: Int, seed: UInt64) -> [(prompt: String, a: String, b: String)] {
        var rng = WorldRNG(seed: seed)
        return (0..<n).map { _ in
            let r = DemoWorld.request(&rng)
            let s1 = rng.pick(DemoWorld.Style.allCases), s2 = rng.pick(DemoWorld.Style.allCases)
            return (r.prompt, DemoWorld.response(r, style: s1, &rng), DemoWorld.response(r, style: s2, &rng))
        }
    }

    func testPanelAgreementIsBelievableAndReproducible() {
        let p = pairs(600, seed: 11)
        let panel = RaterPanel(seed: 1)
        let a = panel.agreement(p, seed: 2), again = panel.agreement(p, seed: 2)
        XCTAssertEqual(a.withGold, again.withGold)
        XCTAssertGreaterThan(a.withGold, 0.65, "panel agreement with gold \(a.withGold)")
        XCTAssertLessThan(a.withGold, 0.92)
        XCTAssertGreaterThan(a.amongRaters, 0.55)
        let sloppy = RaterPanel(count: 6, carelessShare: 0.7, seed: 1).agreement(p, seed: 2)
        XCTAssertLessThan(sloppy.withGold, a.withGold - 0.1, "careless raters lower agreement")
    }

    /// Labels and agreement parse each distinct response once: the same choices, draw for draw,
    /// as asking `prefers` about the texts of every pair (K-wise pairs repeat each response).
    func testLabelsAreThoseOfJudgingEachPairsTexts() {
        var rng = WorldRNG(seed: 3)
        var triples: [(prompt: String, a: String, b: String)] = []
        for _ in 0..<60 {
            let r = DemoWorld.request(&rng)
            let answers = (0..<4).map { _ in DemoWorld.response(r, style: rng.pick(DemoWorld.Style.allCases), &rng) }
            triples += SampleRecord(prompt: r.prompt, completions: answers).pairs(all: true).map { (r.prompt, $0.0, $0.1) }
        }
        let panel = RaterPanel(seed: 5)
        var draws = WorldRNG(seed: 8)
        var expected: [PreferenceRecord] = [], turn = -1
        for (i, p) in triples.enumerated() {
            if i == 0 || p.prompt != triples[i - 1].prompt { turn += 1 }
            guard p.a != p.b else { continue }
            let rater = panel.raters[turn % panel.raters.count]
            let (first, second) = draws.chance(0.5) ? (p.b, p.a) : (p.a, p.b)
            let firstWins = panel.prefers(rater, prompt: p.prompt, first, second, &draws)
            expected.append(PreferenceRecord(prompt: p.prompt, chosen: firstWins ? first : second, rejected: firstWins ? second : first, rater: rater.id))
        }
        let labels = panel.label(triples, seed: 8)
        XCTAssertGreaterThan(expected.count, 300)
        XCTAssertEqual(labels, expected)

        var agreeDraws = WorldRNG(seed: 9), matches = 0, judged = 0
        let gold = GoldUtility()
        for p in triples {
            let ga = gold.score(prompt: p.prompt, response: p.a), gb = gold.score(prompt: p.prompt, response: p.b)
            guard abs(ga - gb) > 0.1 else { continue }
            for r in panel.raters {
                let v = agreeDraws.chance(0.5) ? !panel.prefers(r, prompt: p.prompt, p.b, p.a, &agreeDraws)
                                               : panel.prefers(r, prompt: p.prompt, p.a, p.b, &agreeDraws)
                if v == (ga > gb) { matches += 1 }
                judged += 1
            }
        }
        XCTAssertEqual(panel.agreement(triples, seed: 9).withGold, Double(matches) / Double(judged))
    }

    /// One rater judges all of a prompt's pairs and prompts go to raters in turn, so with K-wise
    /// pairs every rater sees every pair position; an identical (skipped) pair shifts nothing.
    func testRatersTakePromptsInTurn() {
        let panel = RaterPanel(count: 3, seed: 1)
        var triples: [(prompt: String, a: String, b: String)] = []
        for prompt in ["p0", "p1", "p2", "p3"] {
            let samples = SampleRecord(prompt: prompt, completions: ["a", "b", prompt == "p1" ? "a" : "c"])
            triples += samples.pairs(all: true).map { (prompt, $0.0, $0.1) }
        }
        let prefs = panel.label(triples, seed: 4)
        XCTAssertEqual(prefs.count, 11)  // p1's "a"–"a" pair is skipped
        let ids = panel.raters.map(\.id)
        for r in prefs {
            let turn = Int(r.prompt.dropFirst())!
            XCTAssertEqual(r.rater, ids[turn % 3], "\(r.prompt)")
        }
        // One pair per prompt: turns by prompt are turns by pair, as before.
        let single = (0..<7).map { (prompt: "q\($0)", a: "a", b: "b") }
        XCTAssertEqual(panel.label(single, seed: 4).map(\.rater), (0..<7).map { ids[$0 % 3] })
    }

    /// The panel's mean utility of each template style, over 200 requests.
    func meanTaste(_ panel: RaterPanel) -> [DemoWorld.Style: Double] {
        var rng = WorldRNG(seed: 11)
        var taste: [DemoWorld.Style: Double] = [:]
        for style in DemoWorld.Style.allCases {
            for _ in 0..<200 {
                let r = DemoWorld.request(&rng)
                taste[style, default: 0] += panel.meanUtility(prompt: r.prompt, response: DemoWorld.response(r, style: style, &rng)) / 200
            }
        }
        return taste
    }

    /// The panel's taste keeps gold's split between good and bad styles but, checking numbers
    /// less than remedies, ranks a wrong order number above a wrong remedy, against gold.
    func testPanelTasteRanksWrongNumberAboveWrongRemedy() {
        let panel = RaterPanel(seed: 3)
        let taste = meanTaste(panel)
        XCTAssertGreaterThan(taste[.helpful]!, taste[.wrongOrder]!)
        XCTAssertGreaterThan(taste[.wrongOrder]!, taste[.wrongRemedy]!)
        XCTAssertLessThan(meanGold(.wrongOrder), meanGold(.wrongRemedy))
        for good in [DemoWorld.Style.helpful, .wrongOrder, .wrongRemedy] {
            for bad in [DemoWorld.Style.terse, .offTopic, .repetitive, .rude] {
                XCTAssertGreaterThan(taste[good]!, taste[bad]! + 1, "\(good) against \(bad)")
            }
        }
        XCTAssertEqual(taste[.rude]!, taste.values.min()!)
    }

    func testGoldTastePanelRanksStylesAsGoldDoes() {
        // --panel-taste gold: each rater's weights are gold's scaled by their own factor, and
        // rescaled so the attentive raters' mean is gold's, which keeps gold's order of the
        // template styles; the same seed gives the same raters' noise and carelessness as the
        // default panel.
        let panel = RaterPanel(taste: .gold, seed: 3), soundsGood = RaterPanel(seed: 3)
        XCTAssertEqual(panel.raters.map(\.temperature), soundsGood.raters.map(\.temperature))
        XCTAssertEqual(panel.raters.map(\.careless), soundsGood.raters.map(\.careless))
        XCTAssertEqual(panel.raters.map(\.lengthTaste), [Double](repeating: 0, count: panel.raters.count))
        let taste = meanTaste(panel)
        // Not only on average over styles: the attentive raters' mean weights are gold's, so
        // their mean utility of any one response is its gold utility, at every seed.
        var rng = WorldRNG(seed: 12)
        for seed in [1, 3] as [UInt64] {
            let p = RaterPanel(taste: .gold, seed: seed)
            for style in DemoWorld.Style.allCases {
                let r = DemoWorld.request(&rng)
                let response = DemoWorld.response(r, style: style, &rng)
                XCTAssertEqual(p.meanUtility(prompt: r.prompt, response: response), gold.score(prompt: r.prompt, response: response),
                               accuracy: 1e-9, "seed \(seed), \(style)")
            }
        }
        let byTaste = DemoWorld.Style.allCases.sorted { taste[$0]! > taste[$1]! }
        let byGold = DemoWorld.Style.allCases.sorted { meanGold($0) > meanGold($1) }
        XCTAssertEqual(byTaste, byGold)
        XCTAssertEqual(byGold, [.helpful, .wrongRemedy, .wrongOrder, .offTopic, .terse, .repetitive, .rude])
    }

    func testPanelPrefersPoliteButWrongOverTerseButRight() {
        // The designed bias: raters do not check numbers, so a polished wrong answer wins.
        let panel = RaterPanel(count: 6, carelessShare: 0, positionBias: 0, seed: 5)
        var rng = WorldRNG(seed: 9)
        var politeWrongWins = 0
        for _ in 0..<300 {
            let r = DemoWorld.request(&rng)
            let wrong = DemoWorld.response(r, style: .wrongOrder, &rng)
            let terse = " Order #\(r.order) noted."
            if panel.prefers(panel.raters[rng.below(6)], prompt: r.prompt, wrong, terse, &rng) { politeWrongWins += 1 }
        }
        XCTAssertGreaterThan(politeWrongWins, 200)
    }

    func testPreferenceValidation() {
        XCTAssertNil(PreferenceRecord.problem(PreferenceRecord(prompt: "p", chosen: "a", rejected: "b")))
        XCTAssertEqual(PreferenceRecord.problem(PreferenceRecord(prompt: "p", chosen: " ", rejected: "b")), "field \"chosen\" is empty")
        XCTAssertEqual(PreferenceRecord.problem(PreferenceRecord(prompt: "p", chosen: "a", rejected: "a")), "\"chosen\" and \"rejected\" are identical")
    }
}
