#!/usr/bin/env python3
"""Real-browser test of the labeling app: headless Chromium driven over the DevTools protocol on
--remote-debugging-pipe (Python standard library only; no websocket client needed).

It starts `rlhf label serve` on a fresh database with a few comparisons, signs in through the
login form by typing the token, votes on several comparisons with the keyboard shortcuts (1-4, and
R to type a reason), takes the last answer back with U and answers that comparison again, saves a
screenshot of the comparison page, and then checks that `rlhf label export --include-ties` holds
exactly the votes that stand, no more, no fewer, with the reason given.

  python3 Scripts/label-browser-test.py --rlhf .build/release/rlhf --out /tmp/label-browser
"""
import argparse, base64, json, os, select, shutil, signal, subprocess, sys, tempfile, time, http.client
from label_test_support import free_port

KEYS = {"1": ("Digit1", 49), "2": ("Digit2", 50), "3": ("Digit3", 51), "4": ("Digit4", 52),
        "r": ("KeyR", 82), "u": ("KeyU", 85), "Escape": ("Escape", 27), "Enter": ("Enter", 13)}


class Chromium:
    """One browser over a DevTools pipe: fd 3 carries our commands in, fd 4 its replies out."""

    def __init__(self, binary, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def wire():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--user-data-dir=" + profile, "--window-size=1280,900", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id, self.buffer, self.events, self.session = 0, b"", [], None

    def _read(self, timeout):
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_browser], [], [], timeout)
            if not ready:
                raise TimeoutError("no message from Chromium")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk
        msg, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(max(0.01, deadline - time.time())))

    def open_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def navigate_and_wait(self, action):
        """Runs `action` (which navigates) and waits for the next page to finish loading."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        action()
        self.wait_event("Page.loadEventFired")

    def press(self, key):
        code, vk = KEYS[key]
        text = key if len(key) == 1 else ("\r" if key == "Enter" else "")
        base = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        self.call("Input.dispatchKeyEvent", dict(base, type="keyDown", text=text) if text else dict(base, type="rawKeyDown"))
        self.call("Input.dispatchKeyEvent", dict(base, type="keyUp"))

    def type_text(self, text):
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rlhf", default=".build/release/rlhf")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", default=None, help="directory for the screenshot, database and logs")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="label-browser-")
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "labels.sqlite")
    if os.path.exists(db):
        raise SystemExit(f"{db} exists: use a fresh --out directory")

    pairs = os.path.join(out, "pairs.jsonl")
    with open(pairs, "w") as f:
        for i in range(6):
            f.write(json.dumps({"prompt": f"Customer {i}: my order #{1000 + i} arrived <b>broken</b>. What now?",
                                "chosen": f"Sorry about order #{1000 + i}; a replacement ships today.",
                                "rejected": f"Not my problem ({i})."}) + "\n")
    subprocess.run([args.rlhf, "label", "import", "--db", db, pairs], check=True)
    token = subprocess.run([args.rlhf, "label", "add-rater", "--db", db, "browser-rater"],
                           check=True, capture_output=True, text=True).stdout.strip()

    port = free_port()
    log = open(os.path.join(out, "server.log"), "wb")
    server = subprocess.Popen([args.rlhf, "label", "serve", "--db", db, "--port", str(port)], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.05)

    browser = Chromium(args.chromium, os.path.join(out, "profile"))
    expected = []
    try:
        browser.open_page()
        browser.navigate_and_wait(lambda: browser.call("Page.navigate", {"url": base + "/login"}))
        browser.evaluate("document.querySelector('input[name=token]').focus()")
        browser.type_text(token)
        browser.navigate_and_wait(lambda: browser.press("Enter"))
        plan = [("1", None), ("2", "B reads better <script>x</script>"), ("3", None), ("4", None), ("1", None)]
        for n, (key, reason) in enumerate(plan):
            shown = browser.evaluate("""({item: document.querySelector('input[name=item]') && document.querySelector('input[name=item]').value,
                prompt: document.getElementById('prompt') && document.getElementById('prompt').textContent,
                left: document.getElementById('response-left') && document.getElementById('response-left').textContent,
                right: document.getElementById('response-right') && document.getElementById('response-right').textContent,
                progress: document.getElementById('progress') && document.getElementById('progress').textContent})""")
            if not shown["item"]:
                raise SystemExit(f"no comparison shown at vote {n + 1}: {shown}")
            if n == 1:  # after one answer: the page shows the undo button too
                browser.screenshot(os.path.join(out, "comparison-page.png"))
            if reason:
                browser.press("r")
                browser.type_text(reason)
                browser.press("Escape")
            browser.navigate_and_wait(lambda: browser.press(key))
            p, l, r = shown["prompt"], shown["left"], shown["right"]
            if key == "1":
                expected.append((p, l, r))
            elif key == "2":
                expected.append((p, r, l))
            else:  # tie / both bad: exported both ways with --include-ties
                expected += [(p, l, r), (p, r, l)]
            print(f"vote {n + 1}: item {shown['item']}, key {key}, {shown['progress']}")
        # U takes back the last answer (a "1"): the same comparison comes back on the same sides,
        # and a "2" replaces it.
        last = shown
        browser.navigate_and_wait(lambda: browser.press("u"))
        again = browser.evaluate("""({item: document.querySelector('input[name=item]') && document.querySelector('input[name=item]').value,
            left: document.getElementById('response-left') && document.getElementById('response-left').textContent})""")
        if again != {"item": last["item"], "left": last["left"]}:
            raise SystemExit(f"after undo the page shows {again}, expected item {last['item']} with the same left response")
        expected.pop()
        browser.navigate_and_wait(lambda: browser.press("2"))
        expected.append((last["prompt"], last["right"], last["left"]))
        print(f"undo: item {last['item']} came back and was answered again with 2")
        final = browser.evaluate("document.getElementById('progress').textContent")
        print("after voting:", final)
    finally:
        browser.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    export = os.path.join(out, "prefs.jsonl")
    subprocess.run([args.rlhf, "label", "export", "--db", db, "--out", export, "--include-ties"], check=True)
    got = [json.loads(line) for line in open(export) if line.strip()]
    got_keys = sorted((g["prompt"], g["chosen"], g["rejected"]) for g in got)
    ok = got_keys == sorted(expected) and all(g["rater"] == "browser-rater" for g in got)
    reasons = subprocess.run(["sqlite3", db, "SELECT reason FROM vote WHERE reason != ''"], capture_output=True, text=True).stdout.strip()
    exported_reasons = sorted({g["reason"] for g in got if "reason" in g})
    ok = ok and reasons == plan[1][1] and exported_reasons == [plan[1][1]]
    print(f"export: {len(got)} lines, expected {len(expected)}; reason stored: {reasons!r}, exported: {exported_reasons!r}")
    print(f"screenshot: {os.path.join(out, 'comparison-page.png')}")
    print("PASS" if ok else "FAIL")
    if not ok:
        print("expected:", sorted(expected), "\ngot:", got_keys, file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
