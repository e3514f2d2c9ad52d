import XCTest
@testable import LabelServer

final class HTMLEscapingTests: XCTestCase {
    func testEscapesMarkupAndQuotes() {
        XCTAssertEqual(HTML.escape(#"<script>alert("x")</script> & 'y'"#),
                       "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;")
    }

    func testLeavesOtherTextAlone() {
        XCTAssertEqual(HTML.escape("Order #123 — café ✓\nnext line"), "Order #123 — café ✓\nnext line")
    }
}
