import HTTPTypes
import GRDB
import Hummingbird

/// Signs a request in, from `Authorization: Bearer <rater token>` or from the session cookie;
/// answers 401 otherwise (with the sign-in page, so a browser can go on).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = LabelRequestContext
    let store: LabelStore
    /// `LabelServerSettings.secureCookies`.
    var secureCookies = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        // Only a Bearer header is this app's: another scheme (a proxy's Basic auth, forwarded)
        // leaves the rater to their session cookie.
        let parts = request.headers[.authorization]?.split(separator: " ", maxSplits: 1) ?? []
        if parts.first?.lowercased() == "bearer" {
            // A wrong bearer token is not retried as a cookie: the client asked for token auth.
            guard parts.count == 2, let rater = try await store.rater(token: String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
                throw PageError(.unauthorized, "invalid bearer token")
            }
            context.rater = rater
            return try await next(request, context)
        }
        if let id = request.cookies[SessionCookie.name]?.value, let session = try await store.session(id: id) {
            context.rater = session.rater
            context.csrf = session.csrf
            context.sessionID = id
            return try await next(request, context)
        }
        let csrf = Secrets.randomToken()
        var response = Pages.response(status: .unauthorized, html: Pages.login(csrf: csrf, message: "Please sign in."))
        response.setCookie(SessionCookie.loginCSRF(csrf, secure: secureCookies))
        return response
    }
}

/// The cookies the app sets. HttpOnly keeps them from page scripts. The session is SameSite=Lax:
/// a rater who follows a link from mail or a wiki arrives signed in (with Strict the browser
/// withholds the cookie on that first page and the rater must paste a token shown only once),
/// while another site's form posts still go without it, and every form carries a per-session
/// CSRF token besides. `Secure` only with `secure` (`serve --secure-cookies`): the server
/// speaks plain HTTP, on a trusted network or behind a TLS proxy, and only behind the proxy
/// would a browser send such cookies back.
enum SessionCookie {
    static let name = "rlhf_session"
    static let loginCSRFName = "rlhf_login_csrf"

    static func session(_ id: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: name, value: id, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    static func expiredSession(secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    /// The sign-in form has no session yet, so its CSRF token is a double-submit cookie: the
    /// posted field must equal this cookie, which another site can neither read nor set.
    static func loginCSRF(_ token: String, secure: Bool) -> Cookie {
        Cookie(name: loginCSRFName, value: token, path: "/login", secure: secure, httpOnly: true, sameSite: .strict)
    }
}

/// Headers every response carries: no inline or third-party script, no framing, no sniffing,
/// and no caching of pages that show a rater's items.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            // Another write (an import from the CLI) held the database past the busy timeout:
            // say so, with a page and the security headers, instead of a bare 500.
            context.logger.warning("database busy: \(request.method) \(request.uri.path): \(error)")
            response = try PageError(.serviceUnavailable, "the database is busy with another write (an import?); this request was not saved. Try again in a moment")
                .response(from: request, context: context)
            response.headers[.retryAfter] = "5"
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            response = try PageError(.internalServerError, "the server failed on this request; it is logged").response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}
