import XCTest
@testable import LabelServer

/// Agreement statistics against values worked out by hand on a small table.
///
///         r1    r2    r3
///   i1    a     a     a
///   i2    a     b     a
///   i3    b     b     b
///   i4    tie   b     -
///   i5    a     -     both_bad
///   i6    a     -     -        (one answer: carries no agreement information)
final class AgreementTests: XCTestCase {
    let ratings: Agreement.Ratings = [
        1: ["r1": .a, "r2": .a, "r3": .a],
        2: ["r1": .a, "r2": .b, "r3": .a],
        3: ["r1": .b, "r2": .b, "r3": .b],
        4: ["r1": .tie, "r2": .b],
        5: ["r1": .a, "r3": .bothBad],
        6: ["r1": .a],
    ]

    func testPercentAgreement() {
        // Agreeing pairs per item: 6/6, 2/6, 6/6, 0/2, 0/2 → (1 + 1/3 + 1 + 0 + 0) / 5 = 7/15.
        XCTAssertEqual(Agreement.percentAgreement(ratings)!, 7.0 / 15.0, accuracy: 1e-12)
    }

    func testFleissKappa() {
        // Category totals over i1–i5: a 6, b 5, tie 1, both_bad 1 of 13 → Pe = (36+25+1+1)/169 = 63/169.
        // κ = (7/15 − 63/169) / (1 − 63/169) = (238/2535) / (106/169) = 238/1590.
        XCTAssertEqual(Agreement.fleissKappa(ratings)!, 238.0 / 1590.0, accuracy: 1e-12)
    }

    func testCohenKappaPerPair() {
        // r1–r2 on i1–i4: pₒ = 2/4; r1 (a 2, b 1, tie 1), r2 (a 1, b 3): pₑ = 2/16 + 3/16 = 5/16 → κ = (3/16)/(11/16) = 3/11.
        let k12 = Agreement.cohenKappa(ratings, "r1", "r2")
        XCTAssertEqual(k12.items, 4)
        XCTAssertEqual(k12.kappa!, 3.0 / 11.0, accuracy: 1e-12)
        // r1–r3 on i1, i2, i3, i5: pₒ = 3/4; r1 (a 3, b 1), r3 (a 2, b 1, bb 1): pₑ = 6/16 + 1/16 → κ = (5/16)/(9/16) = 5/9.
        XCTAssertEqual(Agreement.cohenKappa(ratings, "r1", "r3").kappa!, 5.0 / 9.0, accuracy: 1e-12)
        // r2–r3 on i1–i3: pₒ = 2/3; r2 (a 1, b 2), r3 (a 2, b 1): pₑ = 4/9 → κ = (2/9)/(5/9) = 2/5.
        XCTAssertEqual(Agreement.cohenKappa(ratings, "r2", "r3").kappa!, 2.0 / 5.0, accuracy: 1e-12)
        XCTAssertEqual(Agreement.cohenKappa(ratings, "r1", "nobody").items, 0)
        XCTAssertNil(Agreement.cohenKappa(ratings, "r1", "nobody").kappa)
    }

    func testKrippendorffAlpha() {
        // Coincidences: i1 o_aa += 3; i2 o_aa += 1, o_ab = o_ba = 1; i3 o_bb += 3; i4 o_tie,b = o_b,tie = 1;
        // i5 o_a,bb = o_bb,a = 1. Margins a 6, b 5, tie 1, bb 1, n = 13. Disagreeing mass 6;
        // Σ_{c≠k} n_c n_k = 169 − 63 = 106 → α = 1 − 12 · 6 / 106 = 34/106 = 17/53.
        XCTAssertEqual(Agreement.krippendorffAlpha(ratings)!, 17.0 / 53.0, accuracy: 1e-12)
    }

    func testUndefinedCases() {
        XCTAssertNil(Agreement.percentAgreement([1: ["r1": .a]]))
        XCTAssertNil(Agreement.fleissKappa([1: ["r1": .a]]))
        XCTAssertNil(Agreement.krippendorffAlpha([:]))
        // Everyone always says "a": observed agreement is perfect but chance agreement is 1 too.
        let unanimous: Agreement.Ratings = [1: ["r1": .a, "r2": .a], 2: ["r1": .a, "r2": .a]]
        XCTAssertEqual(Agreement.percentAgreement(unanimous), 1)
        XCTAssertNil(Agreement.fleissKappa(unanimous))
        XCTAssertNil(Agreement.krippendorffAlpha(unanimous))
        XCTAssertNil(Agreement.cohenKappa(unanimous, "r1", "r2").kappa)
    }

    func testPerfectDisagreementOnTwoCategoriesIsNegative() {
        // Two raters always opposite on a/b: Cohen κ = (0 − 1/2)/(1 − 1/2) = −1;
        // α = 1 − (4 − 1) · 4 / (16 − 8) = −1/2.
        let r: Agreement.Ratings = [1: ["x": .a, "y": .b], 2: ["x": .b, "y": .a]]
        XCTAssertEqual(Agreement.cohenKappa(r, "x", "y").kappa!, -1, accuracy: 1e-12)
        XCTAssertEqual(Agreement.krippendorffAlpha(r)!, -0.5, accuracy: 1e-12)
    }

    func testStatsReportGoldAccuracyAndProgressFromVotes() {
        func v(_ item: Int64, _ rater: String, _ c: Choice, gold: Choice? = nil) -> VoteRow {
            VoteRow(itemID: item, rater: rater, choice: c, prompt: "p", responseA: "a", responseB: "b", gold: gold, reason: "", createdAt: "t")
        }
        let votes = [v(1, "r1", .a, gold: .a), v(1, "r2", .b, gold: .a), v(2, "r1", .tie, gold: .tie), v(3, "r1", .a), v(3, "r2", .a)]
        let s = LabelStats(votes: votes, raterNames: ["r1", "r2", "idle"], items: 4)
        XCTAssertEqual(s.raters.map(\.votes), [3, 2, 0])
        XCTAssertEqual(s.raters.map(\.goldAnswered), [2, 1, 0])
        XCTAssertEqual(s.raters[0].goldAccuracy, 1)
        XCTAssertEqual(s.raters[1].goldAccuracy, 0)
        XCTAssertNil(s.raters[2].goldAccuracy)
        // Agreement among raters is over ordinary items only (item 3): the gold item measures
        // each rater against its known answer, in the gold columns.
        XCTAssertEqual(s.overlappingItems, 1)
        XCTAssertEqual(s.percentAgreement, 1)
        XCTAssertEqual(s.pairs.map(\.sharedItems), [1])
        XCTAssertTrue(s.text.contains("Krippendorff's alpha"))
    }
}
