import Hummingbird

/// The per-request state: who is signed in and how.
public struct LabelRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The signed-in rater, set by `AuthMiddleware`.
    public var rater: Rater?
    /// The session's CSRF token when the rater came in by cookie; nil for a bearer token.
    public var csrf: String?
    /// The raw session id from the cookie (to end it on sign-out).
    public var sessionID: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Hummingbird's own decoders stop here too; forms are read through `FormBody` with the
    /// app's own (smaller) limit.
    public var maxUploadSize: Int { 64 * 1024 }
}
