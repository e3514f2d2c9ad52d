import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
@testable import LabelServer

/// Sends requests straight to the label app's router, with no socket in between: the route, the
/// middleware (sign-in, CSRF, headers) and the pages run as they do behind the server.
///
/// The tests used HummingbirdTesting's router mode for this. That product links an HTTP client
/// with TLS (AsyncHTTPClient, swift-nio-ssl and BoringSSL's C sources), which was 44% of a
/// clean release build for a mode that never opens a connection. Hummingbird's public API is
/// enough to do the same: build a `Request`, a context, ask the responder, collect the body.
struct RouterClient: Sendable {
    let responder: RouterResponder<LabelRequestContext>
    let logger = Logger(label: "label-tests")

    func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> TestResponse {
        var headers = headers
        if let body { headers[.contentLength] = String(body.readableBytes) }
        let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: uri, headerFields: headers),
                              body: RequestBody(buffer: body ?? ByteBuffer()))
        let context = LabelRequestContext(source: ApplicationRequestContextSource(channel: NIOAsyncTestingChannel(), logger: logger))
        let response: Response
        do {
            // The router turns HTTP errors into their responses itself; anything else thrown is a
            // 500, as the server makes of it.
            response = try await responder.respond(to: request, context: context)
        } catch {
            response = Response(status: .internalServerError)
        }
        let collector = BodyCollector()
        try await response.body.write(collector)
        return TestResponse(status: response.status, headers: response.headers, body: collector.body)
    }
}

/// A response as the tests read it.
struct TestResponse {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: ByteBuffer

    var text: String { String(buffer: body) }

    /// The value of cookie `name` from the Set-Cookie headers, with the whole header line.
    func cookie(_ name: String) -> (value: String, line: String)? {
        for line in headers[values: .setCookie] where line.hasPrefix(name + "=") {
            let value = line.dropFirst(name.count + 1).prefix { $0 != ";" }
            return (String(value), line)
        }
        return nil
    }
}

/// Gathers a response body; a class, because `ResponseBody.write` consumes its writer.
private final class BodyCollector: ResponseBodyWriter {
    var body = ByteBuffer()
    func write(_ buffer: ByteBuffer) async throws { body.writeImmutableBuffer(buffer) }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
