import HTTPTypes
import Hummingbird

/// The app's HTML. Every piece of outside text goes through `HTML.escape`; scripts and styles are
/// served from /static so the Content-Security-Policy can forbid inline script.
public enum Pages {
    /// Who is looking at a page: shown in the header, and the CSRF token for its forms (nil for
    /// bearer-token clients, which are not exposed to cross-site request forgery).
    public struct Viewer: Sendable {
        public var rater: Rater
        public var csrf: String?
        public var chatEnabled: Bool
    }

    static func response(status: HTTPResponse.Status = .ok, html: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func csrfField(_ viewer: Viewer) -> String {
        viewer.csrf.map { "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape($0))\">" } ?? ""
    }

    static func layout(title: String, viewer: Viewer?, body: String) -> String {
        var nav = ""
        if let v = viewer {
            nav = "<nav><a href=\"/\">Compare</a>"
            if v.chatEnabled { nav += " <a href=\"/chat\">Chat</a>" }
            nav += " <a href=\"/guidelines\">Guidelines</a>"
            nav += " <span class=\"who\">signed in as <b>\(HTML.escape(v.rater.name))</b></span>"
            if v.csrf != nil {
                nav += "<form method=\"post\" action=\"/logout\" class=\"inline\">\(csrfField(v))<button type=\"submit\">Sign out</button></form>"
            }
            nav += "</nav>"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTML.escape(title)) · rlhf label</title><link rel="stylesheet" href="/static/app.css"></head>
            <body><header><h1>rlhf label</h1>\(nav)</header><main>\(body)</main>
            <script src="/static/app.js"></script></body></html>
            """
    }

    static func errorPage(status: HTTPResponse.Status, message: String) -> String {
        layout(title: "Error \(status.code)", viewer: nil,
               body: "<h2>\(status.code) \(HTML.escape(status.reasonPhrase))</h2><p class=\"error\">\(HTML.escape(message))</p><p><a href=\"/\">Back</a></p>")
    }

    static func login(csrf: String, message: String?) -> String {
        let note = message.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? ""
        return layout(title: "Sign in", viewer: nil, body: """
            <h2>Sign in</h2>\(note)
            <form method="post" action="/login">
            <input type="hidden" name="csrf" value="\(HTML.escape(csrf))">
            <label>Your rater token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
            <button type="submit">Sign in</button>
            </form>
            <p class="hint">An administrator creates tokens with <code>rlhf label add-rater NAME</code>.</p>
            """)
    }

    static func progressLine(done: Int, remaining: Int) -> String {
        "<p class=\"progress\" id=\"progress\">Answered <b>\(done)</b> · <b>\(remaining)</b> left for you</p>"
    }

    /// The button that takes back the rater's last answer (`lastVoted`, named in the form so
    /// that a second click takes back nothing more): shown once they have one.
    static func undoForm(_ viewer: Viewer, lastVoted: Int64?) -> String {
        guard let lastVoted else { return "" }
        return """
            <form method="post" action="/undo" id="undo-form" class="inline">\(csrfField(viewer))<input type="hidden" name="item" value="\(lastVoted)"><button type="submit" id="undo">Undo my last answer <kbd>U</kbd></button></form>
            """
    }

    static func compare(_ item: ShownItem, viewer: Viewer, done: Int, remaining: Int, lastVoted: Int64? = nil, maxReason: Int) -> String {
        layout(title: "Compare", viewer: viewer, body: """
            \(progressLine(done: done, remaining: remaining))
            <section class="prompt"><h2>Prompt</h2><div class="text" id="prompt">\(HTML.escape(item.prompt))</div></section>
            <form method="post" action="/vote" id="vote-form">
            \(csrfField(viewer))<input type="hidden" name="item" value="\(item.id)">
            <div class="pair">
            <article><h3>Response A</h3><div class="text" id="response-left">\(HTML.escape(item.left))</div></article>
            <article><h3>Response B</h3><div class="text" id="response-right">\(HTML.escape(item.right))</div></article>
            </div>
            <label class="reason">Reason (optional) <textarea name="reason" maxlength="\(maxReason)" rows="2"></textarea></label>
            <div class="choices">
            <button type="submit" name="choice" value="left" data-key="1">A is better <kbd>1</kbd></button>
            <button type="submit" name="choice" value="right" data-key="2">B is better <kbd>2</kbd></button>
            <button type="submit" name="choice" value="tie" data-key="3">Tie <kbd>3</kbd></button>
            <button type="submit" name="choice" value="both_bad" data-key="4">Both bad <kbd>4</kbd></button>
            </div>
            </form>
            \(undoForm(viewer, lastVoted: lastVoted))
            <p class="hint">Keys: 1 A better, 2 B better, 3 tie, 4 both bad\(lastVoted == nil ? "" : ", U undoes your last answer"); R focuses the reason box, Esc leaves it.
            See the <a href="/guidelines">guidelines</a>.</p>
            """)
    }

    static func allDone(viewer: Viewer, done: Int, lastVoted: Int64? = nil) -> String {
        layout(title: "All done", viewer: viewer, body: """
            \(progressLine(done: done, remaining: 0))
            <h2>Nothing left for you to compare</h2><p id="all-done">Thank you. New comparisons appear here when they are imported\(viewer.chatEnabled ? ", or start one in <a href=\"/chat\">chat</a>" : "").</p>
            \(undoForm(viewer, lastVoted: lastVoted))
            """)
    }

    static func guidelines(_ text: String, viewer: Viewer) -> String {
        // Shown as preformatted text: the file is the admin's, but escaping it costs nothing and
        // a Markdown file reads fine as plain text.
        layout(title: "Guidelines", viewer: viewer, body: "<h2>Rating guidelines</h2><div class=\"text guidelines\">\(HTML.escape(text))</div>")
    }

    static func chat(viewer: Viewer, maxPrompt: Int) -> String {
        layout(title: "Chat", viewer: viewer, body: """
            <h2>Chat</h2><p>Type a prompt; the model writes two responses and you compare them.</p>
            <form method="post" action="/chat" id="chat-form">\(csrfField(viewer))
            <textarea name="prompt" rows="5" maxlength="\(maxPrompt)" required autofocus></textarea>
            <button type="submit">Sample two responses</button></form>
            """)
    }

    /// The default guidelines, used when the admin gives no `--guidelines` file.
    public static let defaultGuidelines = """
        Compare the two responses to the prompt and choose the one a careful, helpful person would
        rather send.

        A better / B better: one response is more helpful, correct and polite than the other. Facts
        matter more than tone: a polite answer with a wrong order number or the wrong remedy is
        worse than a plain correct one.
        Tie: both are about equally good, or equally flawed in different ways.
        Both bad: neither response is acceptable to send (rude, wrong, off-topic, empty or repetitive).

        Judge each comparison on its own; the reason box is optional but helps reviewers.
        """

    static let css = """
        body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
        header{display:flex;gap:1.5em;align-items:center;padding:.5em 1em;background:#1e293b;color:#fff}
        header h1{font-size:1.1em;margin:0}header a{color:#bfdbfe;margin-right:.8em}
        header .who{margin:0 .8em;color:#cbd5e1}form.inline{display:inline}
        main{max-width:1100px;margin:1em auto;padding:0 1em}
        .text{white-space:pre-wrap;background:#fff;border:1px solid #cbd5e1;border-radius:6px;padding:.7em;overflow-wrap:anywhere}
        .pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin:1em 0}
        .choices{display:flex;gap:.6em;flex-wrap:wrap;margin:.8em 0}
        .choices button{font-size:1em;padding:.6em 1.1em;border-radius:6px;border:1px solid #64748b;background:#e2e8f0;cursor:pointer}
        .choices button:hover,.choices button:focus{background:#bfdbfe}
        label.reason{display:block}textarea{width:100%;box-sizing:border-box;font:inherit}
        .progress{color:#334155}.error{color:#b91c1c}.hint{color:#64748b;font-size:.9em}
        kbd{border:1px solid #94a3b8;border-radius:3px;padding:0 .3em;font-size:.85em;background:#fff}
        """

    static let javascript = """
        // Keyboard shortcuts for the comparison page: 1-4 press the answer buttons, U undoes the
        // last answer, R focuses the reason box, Esc leaves it. A page submits once, even if a key
        // is held or pressed twice (an undo held down would otherwise take back several answers,
        // a chat prompt sent twice would make two comparisons).
        (function () {
          var form = document.getElementById('vote-form');
          var undo = document.getElementById('undo-form');
          var chat = document.getElementById('chat-form');
          if (!form && !undo && !chat) return;
          var sent = false;
          // A page the back button restores from the browser's cache starts unsent again.
          window.addEventListener('pageshow', function (e) { if (e.persisted) { sent = false; } });
          [form, undo, chat].forEach(function (f) {
            if (f) f.addEventListener('submit', function (e) { if (sent) { e.preventDefault(); } sent = true; });
          });
          document.addEventListener('keydown', function (e) {
            var t = e.target;
            var typing = t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT');
            if (typing) { if (e.key === 'Escape') { t.blur(); } return; }
            if (e.ctrlKey || e.metaKey || e.altKey) return;
            if ((e.key === 'u' || e.key === 'U') && undo) { e.preventDefault(); undo.querySelector('button').click(); return; }
            if (!form) return;
            if (e.key === 'r' || e.key === 'R') { e.preventDefault(); form.querySelector('textarea').focus(); return; }
            var b = form.querySelector('button[data-key="' + e.key + '"]');
            if (b) { e.preventDefault(); b.click(); }
          });
        })();
        """
}
