#!/usr/bin/env bash
# Real-browser test of `rlhf label serve` with Debian's headless Chromium: signs in, votes with
# the keyboard, checks the export holds exactly those votes, saves a screenshot.
# Usage: Scripts/label-browser-test.sh [OUT_DIR]   (needs a release build: swift build -c release --product rlhf)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium (apt-get install -y chromium)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3 (apt-get install -y sqlite3)" >&2; exit 1; }
out="${1:-$(mktemp -d /tmp/label-browser-XXXXXX)}"
exec python3 Scripts/label-browser-test.py --rlhf .build/release/rlhf --out "$out"
