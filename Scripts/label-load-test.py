#!/usr/bin/env python3
"""Load test of `rlhf label serve` on loopback, Python standard library only.

Many raters (one thread and one keep-alive connection each, signed in by bearer token) fetch their
next comparison and vote on it, for a bounded time. A vote counts as acknowledged when the server
answered 303 with `X-Vote: recorded`. Afterwards the database must hold exactly the acknowledged
votes (no duplicates, none lost). With --kill-after S the server is SIGKILLed S seconds into the
run and restarted; then no acknowledged vote may be missing (a vote whose answer was cut off by the
kill may be stored without an acknowledgement, and is reported).

Prints requests/s and latency percentiles of the whole run. With --wrk the load comes from wrk
(Debian's package) running Scripts/label-load.lua instead of Python threads, which measures the
server rather than the client; the check is then by count (wrk cannot list which votes it sent).

  python3 Scripts/label-load-test.py --rlhf .build/release/rlhf --raters 32 --seconds 20
  python3 Scripts/label-load-test.py --rlhf .build/release/rlhf --raters 32 --seconds 20 --kill-after 8
  python3 Scripts/label-load-test.py --rlhf .build/release/rlhf --raters 32 --seconds 20 --wrk
"""
import argparse, http.client, json, os, random, re, signal, sqlite3, subprocess, sys, tempfile, threading, time
from label_test_support import free_port

ITEM_RE = re.compile(rb'name="item" value="([0-9]+)"')


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class Server:
    def __init__(self, rlhf, db, port, overlap, log):
        self.cmd = [rlhf, "label", "serve", "--db", db, "--port", str(port), "--overlap", str(overlap)]
        self.port, self.log, self.proc = port, log, None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("server did not start; see its log")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Rater(threading.Thread):
    def __init__(self, name, token, port, stop_at):
        super().__init__(daemon=True)
        self.name, self.token, self.port, self.stop_at = name, token, port, stop_at
        self.acked = {}          # item id -> choice the server acknowledged as recorded
        self.latencies = []      # seconds per completed request
        self.errors = 0          # connection failures (expected while the server is down)
        self.duplicates = 0
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            self.errors += 1
            time.sleep(0.05)
            return None, None, None
        self.latencies.append(time.perf_counter() - t0)
        return r.status, r.getheader("X-Vote"), data

    def run(self):
        rng = random.Random(self.name)
        while time.time() < self.stop_at:
            status, _, page = self.request("GET", "/")
            if status != 200:
                continue
            m = ITEM_RE.search(page)
            if not m:
                break  # nothing left for this rater
            item = int(m.group(1))
            side = rng.choice(["left", "right", "tie", "both_bad"])
            status, vote, _ = self.request("POST", "/vote", f"item={item}&choice={side}&reason=load+test")
            if status == 303 and vote == "recorded":
                self.acked[item] = side
            elif status == 303 and vote == "duplicate":
                self.duplicates += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rlhf", default=".build/release/rlhf")
    ap.add_argument("--raters", type=int, default=32)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--overlap", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--kill-after", type=float, help="SIGKILL the server this many seconds in, then restart it")
    ap.add_argument("--wrk", action="store_true", help="drive the load with wrk and Scripts/label-load.lua")
    ap.add_argument("--workdir", help="keep the database and server log here (default: a temporary directory)")
    args = ap.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="label-load-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "labels.sqlite")
    pairs = os.path.join(work, "pairs.jsonl")
    with open(pairs, "w") as f:
        for i in range(args.items):
            f.write(json.dumps({"prompt": f"load prompt {i}", "response_a": f"first {i}", "response_b": f"second {i}"}) + "\n")
    run([args.rlhf, "label", "import", "--db", db, pairs])
    tokens = {}
    for i in range(args.raters):
        name = f"load-{i:03d}"
        tokens[name] = run([args.rlhf, "label", "add-rater", "--db", db, name]).stdout.strip()

    port = free_port()
    log = open(os.path.join(work, "server.log"), "ab")
    server = Server(args.rlhf, db, port, args.overlap, log)
    server.start()
    if args.wrk:
        if args.kill_after is not None:
            raise SystemExit("--kill-after needs the Python client (it must know which votes were acknowledged)")
        return wrk_run(args, work, db, tokens, server)
    t0 = time.time()
    stop_at = t0 + args.seconds
    raters = [Rater(n, t, port, stop_at) for n, t in tokens.items()]
    for r in raters:
        r.start()
    restarts = 0
    if args.kill_after is not None:
        time.sleep(max(0, t0 + args.kill_after - time.time()))
        server.kill()
        killed_at = time.time() - t0
        server.start()
        restarts = 1
        print(f"SIGKILLed the server at {killed_at:.1f}s, restarted in {time.time() - t0 - killed_at:.2f}s")
    for r in raters:
        r.join()
    elapsed = time.time() - t0
    server.stop()

    lat = sorted(x for r in raters for x in r.latencies)
    n = len(lat)
    pct = lambda p: lat[min(n - 1, int(p * n))] * 1000 if n else float("nan")
    acked = {(r.name, item): side for r in raters for item, side in r.acked.items()}
    print(f"{args.raters} raters, {elapsed:.1f}s, {n} requests ({n / elapsed:.0f} requests/s), "
          f"{len(acked)} votes acknowledged ({len(acked) / elapsed:.0f} votes/s)")
    print(f"latency ms: p50 {pct(0.50):.2f}  p90 {pct(0.90):.2f}  p99 {pct(0.99):.2f}  max {lat[-1] * 1000 if n else float('nan'):.2f}")
    print(f"connection errors {sum(r.errors for r in raters)}, duplicate answers {sum(r.duplicates for r in raters)}, restarts {restarts}")

    con = sqlite3.connect(db)
    rows = con.execute("SELECT r.name, v.item_id, v.choice, v.a_on_left FROM vote v JOIN rater r ON r.id = v.rater_id").fetchall()
    distinct = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT item_id, rater_id FROM vote)").fetchone()[0]
    con.close()
    stored = {}
    for name, item, choice, a_on_left in rows:
        side = {"tie": "tie", "both_bad": "both_bad"}.get(choice) or ("left" if (choice == "a") == bool(a_on_left) else "right")
        stored[(name, item)] = side
    missing = [k for k in acked if k not in stored]
    changed = [k for k in acked if k in stored and stored[k] != acked[k]]
    unacked = [k for k in stored if k not in acked]
    print(f"database: {len(rows)} votes, {distinct} distinct (item, rater); acknowledged but missing {len(missing)}, "
          f"stored with another answer {len(changed)}, stored without acknowledgement {len(unacked)}")
    ok = not missing and not changed and distinct == len(rows) and (restarts or not unacked)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


def wrk_run(args, work, db, tokens, server):
    token_file = os.path.join(work, "tokens.txt")
    with open(token_file, "w") as f:
        f.write("\n".join(tokens.values()) + "\n")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "label-load.lua")
    n = len(tokens)
    out = subprocess.run(["wrk", f"-t{n}", f"-c{n}", f"-d{int(args.seconds)}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{server.port}/"], capture_output=True, text=True,
                         env=dict(os.environ, LABEL_TOKENS=token_file))
    if out.returncode != 0 or "PANIC" in out.stderr + out.stdout:
        server.stop()
        raise SystemExit(f"wrk failed:\n{out.stdout}{out.stderr}")
    out = out.stdout
    server.stop()
    print(out.strip())
    acked = int(re.search(r"^acked (\d+)", out, re.M).group(1))
    con = sqlite3.connect(db)
    stored = con.execute("SELECT COUNT(*) FROM vote").fetchone()[0]
    distinct = con.execute("SELECT COUNT(*) FROM (SELECT DISTINCT item_id, rater_id FROM vote)").fetchone()[0]
    con.close()
    # wrk stops mid-request when time is up: a vote in flight then may be stored with its answer
    # never read, at most one per connection. None may be missing, and none stored twice.
    print(f"database: {stored} votes, {distinct} distinct (item, rater); wrk saw {acked} acknowledged, "
          f"{stored - acked} stored while wrk was stopping (at most {n}, one in flight per connection)")
    ok = stored == distinct and acked <= stored <= acked + n
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
