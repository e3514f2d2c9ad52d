import XCTest
@testable import Training

final class SVGChartTests: XCTestCase {
    func testTickLabelsShowEveryTickAtOneShareOfDecimals() {
        XCTAssertEqual(SVGChart.tickLabels([2.0, 2.25, 2.5, 2.75]), ["2.00", "2.25", "2.50", "2.75"])
        XCTAssertEqual(SVGChart.tickLabels([0, 0.5, 1.0]), ["0", "0.5", "1.0"])
        XCTAssertEqual(SVGChart.tickLabels([0, 100, 200]), ["0", "100", "200"])
        XCTAssertEqual(SVGChart.tickLabels([-0.02, 0, 0.02]), ["-0.02", "0", "0.02"])
    }

    func testDashedSeriesHaveDashedLegendSwatches() {
        let svg = SVGChart.line(title: "t", xLabel: "x", yLabel: "y",
                                series: [.init(name: "solid", points: [(0, 0), (1, 1)], color: "#111111"),
                                         .init(name: "dashed", points: [(0, 1), (1, 0)], color: "#222222", dashed: true)])
        // One dashed polyline and one dashed swatch, both of the dashed series' colour.
        XCTAssertEqual(svg.components(separatedBy: "stroke=\"#222222\" stroke-width=\"2\" stroke-dasharray").count - 1, 1)
        XCTAssertEqual(svg.components(separatedBy: "stroke=\"#222222\" stroke-width=\"3\" stroke-dasharray").count - 1, 1)
        XCTAssertEqual(svg.components(separatedBy: "stroke=\"#111111\" stroke-width=\"3\" stroke-dasharray").count - 1, 0)
    }
}
