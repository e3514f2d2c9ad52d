import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Settings of a running labeling server.
public struct LabelServerSettings: Sendable {
    /// How many raters answer each ordinary comparison (gold items go to everyone).
    public var overlap: Int
    /// The rating guidelines shown on /guidelines.
    public var guidelines: String
    /// The model that writes chat-mode responses; nil turns chat mode off.
    public var sampler: (any ResponseSampler)?
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes = 64 * 1024
    /// Longest reason and chat prompt accepted, in characters.
    public var maxReasonLength = 2000
    public var maxPromptLength = 4000
    /// Chance that a rater's next new item is a gold item (while they have gold items left), so
    /// honeypots come spread among ordinary items rather than in a block.
    public var goldRate = 0.1
    /// Marks the cookies `Secure`, so browsers send them over HTTPS only: for a server behind
    /// a TLS proxy (over plain HTTP the browser would then never send them back).
    public var secureCookies = false

    public init(overlap: Int = 1, guidelines: String = Pages.defaultGuidelines, sampler: (any ResponseSampler)? = nil) {
        self.overlap = overlap
        self.guidelines = guidelines
        self.sampler = sampler
    }
}

/// The labeling web app: routes, middleware and handlers over a `LabelStore`.
public enum LabelApp {
    /// The router with every route; `buildApplication` serves it, tests drive it directly.
    public static func router(store: LabelStore, settings: LabelServerSettings) -> Router<LabelRequestContext> {
        let router = Router(context: LabelRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        let h = Handlers(store: store, settings: settings)

        router.get("/healthz") { _, _ in "ok" }
        router.get("/static/app.css") { _, _ in Handlers.asset(Pages.css, type: "text/css; charset=utf-8") }
        router.get("/static/app.js") { _, _ in Handlers.asset(Pages.javascript, type: "text/javascript; charset=utf-8") }
        router.get("/login") { _, _ in h.loginPage(message: nil, status: .ok) }
        router.post("/login") { request, _ in try await h.login(request) }

        let signedIn = router.group().add(middleware: AuthMiddleware(store: store, secureCookies: settings.secureCookies))
        signedIn.get("/") { _, context in try await h.comparePage(context) }
        signedIn.post("/vote") { request, context in try await h.vote(request, context) }
        signedIn.post("/undo") { request, context in try await h.undo(request, context) }
        signedIn.get("/guidelines") { _, context in Pages.response(html: Pages.guidelines(settings.guidelines, viewer: h.viewer(context))) }
        signedIn.get("/chat") { _, context in try h.chatPage(context) }
        signedIn.post("/chat") { request, context in try await h.chat(request, context) }
        signedIn.post("/logout") { request, context in try await h.logout(request, context) }
        return router
    }

    /// Serves until SIGINT or SIGTERM (then finishes the requests in flight).
    public static func serve(store: LabelStore, settings: LabelServerSettings, host: String, port: Int) async throws {
        try await application(router: router(store: store, settings: settings), host: host, port: port).runService()
    }

    /// A server for `router` on host:port.
    public static func application(router: Router<LabelRequestContext>, host: String, port: Int,
                                   logger: Logger = Logger(label: "rlhf.label")) -> some ApplicationProtocol {
        Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "rlhf-label"), logger: logger)
    }
}

/// The route handlers, holding what they share.
struct Handlers: Sendable {
    let store: LabelStore
    let settings: LabelServerSettings

    func viewer(_ context: LabelRequestContext) -> Pages.Viewer {
        // Routes behind AuthMiddleware always have a rater.
        Pages.Viewer(rater: context.rater!, csrf: context.csrf, chatEnabled: settings.sampler != nil)
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    func loginPage(message: String?, status: HTTPResponse.Status) -> Response {
        let csrf = Secrets.randomToken()
        var response = Pages.response(status: status, html: Pages.login(csrf: csrf, message: message))
        response.setCookie(SessionCookie.loginCSRF(csrf, secure: settings.secureCookies))
        return response
    }

    func login(_ request: Request) async throws -> Response {
        let form = try await FormBody.read(request, limit: settings.maxBodyBytes)
        guard let posted = form["csrf"], let expected = request.cookies[SessionCookie.loginCSRFName]?.value,
              Secrets.constantTimeEqual(posted, expected) else {
            throw PageError(.forbidden, "CSRF check failed: reload the sign-in page and try again")
        }
        guard let token = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty,
              let rater = try await store.rater(token: token) else {
            return loginPage(message: "Unknown token.", status: .unauthorized)
        }
        let session = try await store.createSession(rater: rater)
        var response = Self.redirect("/")
        response.setCookie(SessionCookie.session(session.id, maxAge: Int(store.sessionLifetime), secure: settings.secureCookies))
        return response
    }

    func logout(_ request: Request, _ context: LabelRequestContext) async throws -> Response {
        let form = try await FormBody.read(request, limit: settings.maxBodyBytes)
        try checkCSRF(form, context)
        if let id = context.sessionID { try await store.deleteSession(id: id) }
        var response = Self.redirect("/login")
        response.setCookie(SessionCookie.expiredSession(secure: settings.secureCookies))
        return response
    }

    /// Cookie sessions must post the session's CSRF token; bearer-token clients need not, since
    /// a browser never attaches that header to a request another site makes.
    func checkCSRF(_ form: [String: String], _ context: LabelRequestContext) throws {
        guard let expected = context.csrf else { return }
        guard let posted = form["csrf"], Secrets.constantTimeEqual(posted, expected) else {
            throw PageError(.forbidden, "CSRF check failed: the form is stale or came from another site; reload the page")
        }
    }

    func comparePage(_ context: LabelRequestContext) async throws -> Response {
        let v = viewer(context)
        let item = try await store.nextItem(for: v.rater, overlap: settings.overlap, aOnLeft: Bool.random(),
                                            preferGold: Double.random(in: 0..<1) < settings.goldRate)
        let (done, remaining) = try await store.progress(for: v.rater, overlap: settings.overlap)
        let last = try await store.lastVotedItem(rater: v.rater)
        guard let item else { return Pages.response(html: Pages.allDone(viewer: v, done: done, lastVoted: last)) }
        return Pages.response(html: Pages.compare(item, viewer: v, done: done, remaining: remaining, lastVoted: last, maxReason: settings.maxReasonLength))
    }

    func vote(_ request: Request, _ context: LabelRequestContext) async throws -> Response {
        let form = try await FormBody.read(request, limit: settings.maxBodyBytes)
        try checkCSRF(form, context)
        guard let itemText = form["item"], let item = Int64(itemText) else {
            throw PageError(.badRequest, "field \"item\" is missing or not a comparison id")
        }
        guard let side = form["choice"] else { throw PageError(.badRequest, "field \"choice\" is missing") }
        // Browsers send a textarea's line breaks as CRLF; the models' texts use LF.
        let reason = (form["reason"] ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        guard !reason.contains("\u{0}") else { throw PageError(.badRequest, "field \"reason\" contains a NUL character") }
        guard reason.count <= settings.maxReasonLength else {
            throw PageError(.badRequest, "field \"reason\" is longer than \(settings.maxReasonLength) characters")
        }
        let outcome: VoteOutcome
        do {
            outcome = try await store.recordVote(rater: context.rater!, itemID: item, side: side, reason: reason)
        } catch let e as LabelError {
            // 404, not 403: whether someone else's comparison exists is not this rater's business.
            throw PageError(.notFound, e.description)
        } catch let e as LabelFormError {
            throw PageError(.badRequest, e.description)
        }
        var response = Self.redirect("/")
        // Scripts (and the load test) read whether this submit was the one that counted.
        response.headers[HTTPField.Name("X-Vote")!] = outcome == .recorded ? "recorded" : "duplicate"
        return response
    }

    /// Takes back the rater's last answer, if it is the one the page offered (`item`), and
    /// shows its comparison again.
    func undo(_ request: Request, _ context: LabelRequestContext) async throws -> Response {
        let form = try await FormBody.read(request, limit: settings.maxBodyBytes)
        try checkCSRF(form, context)
        guard let itemText = form["item"], let expected = Int64(itemText) else {
            throw PageError(.badRequest, "field \"item\" is missing or not a comparison id: it names the answer to take back")
        }
        let item = try await store.undoLastVote(rater: context.rater!, item: expected)
        var response = Self.redirect("/")
        // Scripts read which comparison came back ("none": there was no answer to take back).
        response.headers[HTTPField.Name("X-Undone")!] = item.map(String.init) ?? "none"
        return response
    }

    func chatPage(_ context: LabelRequestContext) throws -> Response {
        guard settings.sampler != nil else { throw PageError(.notFound, "chat mode is off: the server was started without --model") }
        return Pages.response(html: Pages.chat(viewer: viewer(context), maxPrompt: settings.maxPromptLength))
    }

    func chat(_ request: Request, _ context: LabelRequestContext) async throws -> Response {
        guard let sampler = settings.sampler else { throw PageError(.notFound, "chat mode is off: the server was started without --model") }
        let form = try await FormBody.read(request, limit: settings.maxBodyBytes)
        try checkCSRF(form, context)
        // Browsers send a textarea's line breaks as CRLF; the model was trained on "…\nAgent:".
        guard let prompt = form["prompt"]?.replacingOccurrences(of: "\r\n", with: "\n"),
              !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw PageError(.badRequest, "field \"prompt\" is missing or empty")
        }
        guard prompt.count <= settings.maxPromptLength else {
            throw PageError(.badRequest, "field \"prompt\" is longer than \(settings.maxPromptLength) characters")
        }
        guard !prompt.contains("\u{0}") else { throw PageError(.badRequest, "field \"prompt\" contains a NUL character") }
        let (a, b): (String, String)
        do { (a, b) = try await sampler.twoResponses(to: prompt) } catch let e as LabelFormError {
            throw PageError(.badRequest, e.description)
        } catch let e as SamplerBusy {
            throw PageError(.serviceUnavailable, e.description)
        }
        _ = try await store.addChatItem(rater: context.rater!, prompt: prompt, responseA: a, responseB: b, aOnLeft: Bool.random())
        return Self.redirect("/")
    }
}
