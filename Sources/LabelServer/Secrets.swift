import Foundation

/// Random tokens and their hashes. Rater tokens and session ids are stored only as SHA-256 hex,
/// so a copy of the database does not let anyone sign in.
public enum Secrets {
    /// 32 bytes from the system's cryptographic generator, as 64 lowercase hex characters
    /// (safe in cookies, headers and form fields without encoding).
    public static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        var out = ""
        out.reserveCapacity(64)
        for _ in 0..<4 {
            let v = g.next() as UInt64
            out += String(format: "%016llx", v)
        }
        return out
    }

    /// SHA-256 of the UTF-8 bytes, lowercase hex.
    public static func sha256Hex(_ text: String) -> String {
        SHA256.hex(text.utf8)
    }

    /// Compares two secrets in time that depends only on their lengths (a CSRF token must not
    /// leak through how fast a wrong guess is rejected).
    public static func constantTimeEqual(_ x: String, _ y: String) -> Bool {
        let a = Array(x.utf8), b = Array(y.utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
