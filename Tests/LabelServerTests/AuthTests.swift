import HTTPTypes
import Hummingbird
import XCTest
@testable import LabelServer

final class AuthTests: XCTestCase {
    func testSignInSetsHttpOnlyLaxSessionCookieAndShowsRater() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try await t.withClient { client in
            let page = try await client.execute(uri: "/login", method: .get)
            XCTAssertEqual(page.status, .ok)
            let loginCSRF = try XCTUnwrap(page.cookie(SessionCookie.loginCSRFName))
            var headers = formType
            headers[.cookie] = "\(SessionCookie.loginCSRFName)=\(loginCSRF.value)"
            let res = try await client.execute(uri: "/login", method: .post, headers: headers,
                                               body: formBody([("csrf", loginCSRF.value), ("token", token)]))
            XCTAssertEqual(res.status, .seeOther)
            XCTAssertEqual(res.headers[.location], "/")
            let session = try XCTUnwrap(res.cookie(SessionCookie.name))
            XCTAssertTrue(session.line.contains("HttpOnly"), session.line)
            XCTAssertTrue(session.line.contains("SameSite=Lax"), session.line)
            let home = try await client.execute(uri: "/", method: .get, headers: [.cookie: "\(SessionCookie.name)=\(session.value)"])
            XCTAssertEqual(home.status, .ok)
            XCTAssertTrue(home.text.contains("signed in as <b>alice</b>"))
        }
        // Only the hash of the token is stored.
        let stored = try await t.store.db.read { db in try String.fetchAll(db, sql: "SELECT token_sha256 FROM rater") }
        XCTAssertEqual(stored, [Secrets.sha256Hex(token)])
        XCTAssertNotEqual(stored, [token])
    }

    func testMissingCredentialsAre401WithTheSignInForm() async throws {
        let t = try TempLabelDB()
        try await t.withClient { client in
            for (uri, method) in [("/", HTTPRequest.Method.get), ("/guidelines", .get), ("/vote", .post)] {
                let res = try await client.execute(uri: uri, method: method, headers: formType, body: formBody([("item", "1")]))
                XCTAssertEqual(res.status, .unauthorized, uri)
                XCTAssertTrue(res.text.contains("action=\"/login\""), uri)
            }
        }
    }

    func testWrongTokensAre401() async throws {
        let t = try TempLabelDB()
        _ = try t.store.addRater(name: "alice")
        try await t.withClient { client in
            let bearer = try await client.execute(uri: "/", method: .get, headers: [.authorization: "Bearer " + String(repeating: "0", count: 64)])
            XCTAssertEqual(bearer.status, .unauthorized)
            XCTAssertTrue(bearer.text.contains("invalid bearer token"))
            let basic = try await client.execute(uri: "/", method: .get, headers: [.authorization: "Basic YWxpY2U6eA=="])
            XCTAssertEqual(basic.status, .unauthorized)
            let staleCookie = try await client.execute(uri: "/", method: .get, headers: [.cookie: "\(SessionCookie.name)=deadbeef"])
            XCTAssertEqual(staleCookie.status, .unauthorized)

            let page = try await client.execute(uri: "/login", method: .get)
            let csrf = try XCTUnwrap(page.cookie(SessionCookie.loginCSRFName)?.value)
            var headers = formType
            headers[.cookie] = "\(SessionCookie.loginCSRFName)=\(csrf)"
            let res = try await client.execute(uri: "/login", method: .post, headers: headers,
                                               body: formBody([("csrf", csrf), ("token", "not-a-token")]))
            XCTAssertEqual(res.status, .unauthorized)
            XCTAssertNil(res.cookie(SessionCookie.name))
            XCTAssertTrue(res.text.contains("Unknown token."))
        }
    }

    /// Behind a TLS proxy (`serve --secure-cookies`) every cookie is Secure; by default none is,
    /// since the server itself speaks plain HTTP.
    func testSecureCookiesOnlyWhenAsked() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        for secure in [false, true] {
            var settings = LabelServerSettings()
            settings.secureCookies = secure
            try await t.withClient(settings) { client in
                let page = try await client.execute(uri: "/login", method: .get)
                let csrf = try XCTUnwrap(page.cookie(SessionCookie.loginCSRFName))
                XCTAssertEqual(csrf.line.contains("Secure"), secure, csrf.line)
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                headers[.cookie] = "\(SessionCookie.loginCSRFName)=\(csrf.value)"
                let res = try await client.execute(uri: "/login", method: .post, headers: headers, body: formBody([("csrf", csrf.value), ("token", token)]))
                let session = try XCTUnwrap(res.cookie(SessionCookie.name))
                XCTAssertEqual(session.line.contains("Secure"), secure, session.line)
            }
        }
    }

    func testBearerTokenSignsInWithoutCSRF() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "bot")
        try t.store.importItems(sampleItems(1))
        try await t.withClient { client in
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let page = try await client.execute(uri: "/", method: .get, headers: auth)
            XCTAssertEqual(page.status, .ok)
            XCTAssertFalse(page.text.contains("name=\"csrf\""), "bearer clients get no CSRF token")
            let item = try XCTUnwrap(itemID(in: page.text))
            var headers = auth
            headers[.contentType] = "application/x-www-form-urlencoded"
            let vote = try await client.execute(uri: "/vote", method: .post, headers: headers,
                                                body: formBody([("item", "\(item)"), ("choice", "tie")]))
            XCTAssertEqual(vote.status, .seeOther, vote.text)
            XCTAssertEqual(vote.headers[HTTPField.Name("X-Vote")!], "recorded")
        }
        XCTAssertEqual(try t.count("vote"), 1)
    }

    func testCSRFFailuresAre403AndStoreNothing() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(1))
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let page = try await client.execute(uri: "/", method: .get, headers: s.headers)
            let item = try XCTUnwrap(itemID(in: page.text))
            let missing = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                   body: formBody([("item", "\(item)"), ("choice", "left")]))
            XCTAssertEqual(missing.status, .forbidden)
            XCTAssertTrue(missing.text.contains("CSRF check failed"))
            let wrong = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                 body: formBody([("csrf", String(repeating: "a", count: 64)), ("item", "\(item)"), ("choice", "left")]))
            XCTAssertEqual(wrong.status, .forbidden)
            let logout = try await client.execute(uri: "/logout", method: .post, headers: s.formHeaders, body: formBody([]))
            XCTAssertEqual(logout.status, .forbidden)

            // Sign-in form: the posted token must match the double-submit cookie.
            var headers = formType
            headers[.cookie] = "\(SessionCookie.loginCSRFName)=\(String(repeating: "b", count: 64))"
            let login = try await client.execute(uri: "/login", method: .post, headers: headers,
                                                 body: formBody([("csrf", String(repeating: "c", count: 64)), ("token", token)]))
            XCTAssertEqual(login.status, .forbidden)
            XCTAssertNil(login.cookie(SessionCookie.name))
        }
        XCTAssertEqual(try t.count("vote"), 0)
    }

    func testSignOutEndsTheSession() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let out = try await client.execute(uri: "/logout", method: .post, headers: s.formHeaders, body: formBody([("csrf", s.csrf)]))
            XCTAssertEqual(out.status, .seeOther)
            let after = try await client.execute(uri: "/", method: .get, headers: s.headers)
            XCTAssertEqual(after.status, .unauthorized)
        }
    }

    func testANewTokenReplacesTheOldOneAndEndsItsSessions() async throws {
        let t = try TempLabelDB()
        let old = try t.store.addRater(name: "alice")
        XCTAssertThrowsError(try t.store.newToken(forRater: "bob")) { XCTAssertEqual($0 as? LabelError, .noSuchRater("bob")) }
        try await t.withClient { client in
            let s = try await signIn(client, token: old)
            let new = try t.store.newToken(forRater: "alice")
            XCTAssertNotEqual(new, old)
            let stale = try await client.execute(uri: "/", method: .get, headers: s.headers)
            XCTAssertEqual(stale.status, .unauthorized)
            let byOld = try await client.execute(uri: "/", method: .get, headers: [.authorization: "Bearer \(old)"])
            XCTAssertEqual(byOld.status, .unauthorized)
            let byNew = try await client.execute(uri: "/", method: .get, headers: [.authorization: "Bearer \(new)"])
            XCTAssertEqual(byNew.status, .ok)
        }
        XCTAssertEqual(try t.store.raters().map(\.name), ["alice"])
    }

    func testBadBodiesAre4xxWithAMessage() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(1))
        var settings = LabelServerSettings()
        settings.maxBodyBytes = 4096
        try await t.withClient(settings) { client in
            let s = try await signIn(client, token: token)
            let page = try await client.execute(uri: "/", method: .get, headers: s.headers)
            let item = try XCTUnwrap(itemID(in: page.text))
            let big = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                               body: formBody([("csrf", s.csrf), ("item", "\(item)"), ("choice", "left"),
                                                               ("reason", String(repeating: "x", count: 10_000))]))
            XCTAssertEqual(big.status, .contentTooLarge)
            XCTAssertTrue(big.text.contains("larger than the limit of 4096 bytes"), big.text)

            let malformed = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                     body: ByteBuffer(string: "csrf=\(s.csrf)&item=%ZZ&choice=left"))
            XCTAssertEqual(malformed.status, .badRequest)
            XCTAssertTrue(malformed.text.contains("malformed form body"), malformed.text)
            // Raw bytes that are not UTF-8 are refused, not stored as U+FFFD.
            var raw = ByteBuffer(string: "csrf=\(s.csrf)&item=\(item)&choice=left&reason=")
            raw.writeBytes([0xFF, 0xFE])
            let notUTF8 = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders, body: raw)
            XCTAssertEqual(notUTF8.status, .badRequest)
            XCTAssertTrue(notUTF8.text.contains("not UTF-8"), notUTF8.text)
            // Another scheme's Authorization header (a proxy's Basic auth) leaves the session.
            var basic = s.headers
            basic[.authorization] = "Basic Zm9vOmJhcg=="
            let behindProxy = try await client.execute(uri: "/", method: .get, headers: basic)
            XCTAssertEqual(behindProxy.status, .ok, behindProxy.text)

            let json = try await client.execute(uri: "/vote", method: .post, headers: [.cookie: s.headers[.cookie]!, .contentType: "application/json"],
                                                body: ByteBuffer(string: "{\"item\":1}"))
            XCTAssertEqual(json.status, .unsupportedMediaType)
            XCTAssertTrue(json.text.contains("expected a form body"))

            let noItem = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                  body: formBody([("csrf", s.csrf), ("item", "one"), ("choice", "left")]))
            XCTAssertEqual(noItem.status, .badRequest)
            XCTAssertTrue(noItem.text.contains("field &quot;item&quot;"), noItem.text)

            let badChoice = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                     body: formBody([("csrf", s.csrf), ("item", "\(item)"), ("choice", "up")]))
            XCTAssertEqual(badChoice.status, .badRequest)
            XCTAssertTrue(badChoice.text.contains("field &quot;choice&quot;"), badChoice.text)

            let longReason = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                                      body: formBody([("csrf", s.csrf), ("item", "\(item)"), ("choice", "left"),
                                                                      ("reason", String(repeating: "y", count: 2001))]))
            XCTAssertEqual(longReason.status, .badRequest)
            XCTAssertTrue(longReason.text.contains("longer than 2000 characters"))
        }
        XCTAssertEqual(try t.count("vote"), 0)
    }

    func testSecurityHeadersOnPagesAndErrors() async throws {
        let t = try TempLabelDB()
        try await t.withClient { client in
            for uri in ["/login", "/"] {
                let res = try await client.execute(uri: uri, method: .get)
                let csp = try XCTUnwrap(res.headers[.contentSecurityPolicy], uri)
                XCTAssertTrue(csp.contains("script-src 'self'"), csp)
                XCTAssertEqual(res.headers[.xContentTypeOptions], "nosniff")
                XCTAssertEqual(res.headers[HTTPField.Name("X-Frame-Options")!], "DENY")
            }
        }
    }
}
