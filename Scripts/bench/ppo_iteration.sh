#!/usr/bin/env bash
# One PPO iteration, swift-rlhf against TRL's PPOTrainer, same machine, same thread count, same
# models and settings: policy = reference = an SFT model, reward model = value-model init, 64
# rollouts of at most 64 tokens at temperature 0.7, 2 PPO epochs × 2 minibatches, β = 0.05.
# swift-rlhf runs twice: with TRL's settings to the letter, and with each minibatch of 32 as two
# micro-batches of 16 on two lanes side by side (--grad-accum 2 --lanes 2; each micro-batch's
# token mean then counts equally, as TRL's gradient accumulation does). LANES=1 leaves it out.
#
#   [RLHF_BIN=path/to/rlhf] [LANES=2] Scripts/bench/ppo_iteration.sh RUN_DIR [ITERATIONS]
#
# RUN_DIR is a folder `rlhf demo` wrote (it needs sft/, reward/ and world/prompts.jsonl).
# Prints seconds per iteration (mean of iterations 2…N, the first one warms caches up), its
# ratio, and each side's peak resident memory. TRL dropped PPOTrainer after 0.19, so trl 0.19.1
# and the transformers it was built for (4.53) are installed into .bench-trl019/ and put in front
# of the virtualenv's newer packages; torch comes from the virtualenv (VENV, default .venv).
set -euo pipefail
run=${1:?usage: ppo_iteration.sh RUN_DIR [ITERATIONS]}
n=${2:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$here/.venv}
threads=${RLHF_THREADS:-$(nproc)}
py="$venv/bin/python"
[ -x "$py" ] || python3 -m venv "$venv"
# torch, accelerate, and datasets for the packages it depends on (pandas, dill, xxhash,
# multiprocess): the pinned datasets 3.6.0 that trl 0.19 runs with is installed without its
# dependencies into .bench-trl019 below. Installed into a virtualenv that lacks any of them.
"$py" -c "import torch, accelerate, pyarrow, pandas, dill, xxhash, multiprocess" 2>/dev/null ||
  "$venv/bin/pip" install -q torch accelerate datasets pyarrow
side="$here/.bench-trl019"
if [ ! -d "$side/trl" ]; then
  "$venv/bin/pip" install -q --target "$side" --no-deps "trl==0.19.1" "transformers==4.53.3" "tokenizers==0.21.4" \
    "huggingface_hub==0.34.4" "datasets==3.6.0" "fsspec==2025.3.0" requests urllib3 idna charset-normalizer certifi
fi

# RLHF_BIN: an rlhf binary built elsewhere (another --scratch-path), used as it is. Otherwise
# the Makefile's flags, so switching between make and this script does not rebuild everything.
bin=${RLHF_BIN:-}
if [ -z "$bin" ]; then
  (cd "$here" && swift build -c release -Xswiftc -enable-testing --product rlhf >/dev/null)
  bin=$here/.build/release/rlhf
fi
[ -x "$bin" ] || { echo "RLHF_BIN '$bin' is not an executable" >&2; exit 64; }
out=$(mktemp -d)
lanes=${LANES:-2}
[[ "$lanes" =~ ^(1|2|4|8|16)$ ]] || { echo "LANES must divide the minibatch of 32 into micro-batches: 1, 2, 4, 8 or 16, found '$lanes'" >&2; exit 64; }
swift_ppo() {  # swift_ppo NAME [flags...]
  local name=$1; shift
  RLHF_THREADS=$threads /usr/bin/time -v "$bin" ppo --policy "$run/sft" --reward "$run/reward" \
    --prompts "$run/world/prompts.jsonl" --out "$out/$name" --steps "$n" --batch-size 64 --num-mini-batches 2 \
    --ppo-epochs 2 --learning-rate 2e-4 --lam 1 --max-new-tokens 64 --kl-coef 0.05 "$@" >/dev/null 2>"$out/$name.err"
}
swift_ppo swift
if [ "$lanes" -gt 1 ]; then swift_ppo lanes --grad-accum "$lanes" --lanes "$lanes"; fi
PYTHONPATH="$side" TRL_EXPERIMENTAL_SILENCE=1 /usr/bin/time -v "$py" "$here/Scripts/bench/trl_ppo.py" --policy "$run/sft" \
  --reward "$run/reward" --prompts "$run/world/prompts.jsonl" --iterations "$n" --threads "$threads" \
  >"$out/trl.json" 2>"$out/trl.err"

"$py" - "$out" "$lanes" <<'EOF'
import json, os, re, sys
out, lanes = sys.argv[1], int(sys.argv[2])
def rss(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024
def seconds(name):
    """Mean seconds of iterations 2…N (the first one warms caches up), and how many there were."""
    s = [json.loads(l)["seconds"] for l in open(f"{out}/{name}/metrics.jsonl")]
    return sum(s[1:]) / len(s[1:]), len(s)
trl = json.loads(open(f"{out}/trl.json").read().strip().splitlines()[-1])["seconds_per_iteration"]
t = sum(trl[1:]) / len(trl[1:])
t_rss = rss(out + "/trl.err")
rows = [("swift", "swift-rlhf")] + ([("lanes", f"swift-rlhf, --grad-accum {lanes} --lanes {lanes}")] if lanes > 1 else [])
print(f"| measure | swift-rlhf | TRL 0.19.1 PPOTrainer | ratio |")
print(f"| --- | --- | --- | --- |")
for name, label in rows:
    s, count = seconds(name)
    print(f"| s / PPO iteration (mean of iterations 2-{count}), {label} | {s:.2f} | {t:.2f} | {t / s:.1f}x |")
    print(f"| peak resident memory (MB), {label} | {rss(f'{out}/{name}.err'):.0f} | {t_rss:.0f} | {t_rss / rss(f'{out}/{name}.err'):.2f}x |")
for name, label in rows:
    split = [l for l in open(f"{out}/{name}.err") if "time split" in l]
    if split: print(f"{label}: " + split[-1].strip())
EOF
rm -rf "$out"
