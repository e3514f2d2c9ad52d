#!/usr/bin/env bash
# Side by side: swift-rlhf against PyTorch + transformers on this machine, same config, batch,
# context and thread count, in one run; ratios > 1 mean swift-rlhf is faster. Needs the
# reference virtualenv (.venv, see Scripts/reference/requirements.txt) for the peer.
#   Scripts/bench/compare.sh [preset] [batch] [context] [vocab]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${1:-gpt2}; batch=${2:-4}; context=${3:-64}; vocab=${4:-50257}
threads=${RLHF_THREADS:-$(nproc)}
py=${PYTHON:-.venv/bin/python}
swift build -c release --product rlhf >/dev/null
ours=$(RLHF_THREADS=$threads .build/release/rlhf bench model --preset "$preset" --batch "$batch" --context "$context" --vocab-size "$vocab")
peer=$("$py" Scripts/bench/pytorch_gpt2.py --preset "$preset" --batch "$batch" --context "$context" --vocab-size "$vocab" --threads "$threads" 2>/dev/null)
ceiling=$(RLHF_THREADS=$threads .build/release/rlhf bench gemm --seconds 0.3 | awk 'NR>2 {s+=$2; n++} END {printf "%.1f", s/n}')
"$py" - "$ours" "$peer" "$ceiling" <<'PY'
import json, sys
o, p, ceil = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
print(f"preset {o['preset']}, {o['threads']} threads, sgemm ceiling {ceil:.1f} GFLOP/s (mean of GPT-2 shapes)")
print(f"{'measure':34}{'swift-rlhf':>14}{'pytorch':>14}{'ratio':>8}")
rows = [("train tokens/s", o['train']['tokensPerSecond'], p['train']['tokensPerSecond']),
        ("train s/step", o['train']['secondsPerStep'], p['train']['secondsPerStep'])]
for k in sorted(o['generate_tokens_per_second']):
    rows.append((f"generate tokens/s {k}", o['generate_tokens_per_second'][k], p['generate_tokens_per_second'][k]))
for name, a, b in rows:
    r = b / a if "s/step" in name else a / b
    print(f"{name:34}{a:>14.2f}{b:>14.2f}{r:>8.2f}")
print(f"{'train MFU vs sgemm ceiling':34}{o['train']['modelGFLOPS'] / ceil * 100:>13.1f}%{p['train']['modelGFLOPS'] / ceil * 100:>13.1f}%")
PY
