import HTTPTypes
import Hummingbird

/// An error answered with a small HTML page that states the problem (escaped), so raters in a
/// browser and scripts both read why a request failed.
public struct PageError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields { [:] }

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Pages.response(status: status, html: Pages.errorPage(status: status, message: message))
    }
}
