import XCTest
@testable import LabelServer

/// The example vectors of FIPS 180-4 (NIST's "SHA256.pdf" and "SHA2_Additional.pdf"), including
/// messages whose padding spills into a second block.
final class SHA256Tests: XCTestCase {
    func testNISTVectors() {
        XCTAssertEqual(SHA256.hex("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex("".utf8), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // 55 and 56 bytes: the last length that fits one block, and the first that needs two.
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0, count: 55)),
                       "02779466cdec163811d078815c633f21901413081449002f24aa3e80f0b88ef7")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0, count: 56)),
                       "d4817aa5497628e7c77e6b606107042bbba3130888c5f47a375e6179be789fbb")
    }

    func testSecretsHashIsSHA256() {
        XCTAssertEqual(Secrets.sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
