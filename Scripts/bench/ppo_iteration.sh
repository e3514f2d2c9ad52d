#!/usr/bin/env bash
# One PPO iteration, swift-rlhf against TRL's PPOTrainer, same machine, same thread count, same
# models and settings: policy = reference = an SFT model, reward model = value-model init, 64
# rollouts of at most 64 tokens at temperature 0.7, 2 PPO epochs × 2 minibatches, β = 0.05.
#
#   Scripts/bench/ppo_iteration.sh RUN_DIR [ITERATIONS]
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

# The Makefile's flags, so switching between make and this script does not rebuild everything.
swift build -c release -Xswiftc -enable-testing --product rlhf >/dev/null
out=$(mktemp -d)
RLHF_THREADS=$threads /usr/bin/time -v "$here/.build/release/rlhf" ppo --policy "$run/sft" --reward "$run/reward" \
  --prompts "$run/world/prompts.jsonl" --out "$out/swift" --steps "$n" --batch-size 64 --num-mini-batches 2 \
  --ppo-epochs 2 --learning-rate 2e-4 --lam 1 --max-new-tokens 64 --kl-coef 0.05 >/dev/null 2>"$out/swift.err"
PYTHONPATH="$side" TRL_EXPERIMENTAL_SILENCE=1 /usr/bin/time -v "$py" "$here/Scripts/bench/trl_ppo.py" --policy "$run/sft" \
  --reward "$run/reward" --prompts "$run/world/prompts.jsonl" --iterations "$n" --threads "$threads" \
  >"$out/trl.json" 2>"$out/trl.err"

"$py" - "$out" <<'EOF'
import json, re, sys
out = sys.argv[1]
def rss(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024
swift = [json.loads(l)["seconds"] for l in open(f"{out}/swift/metrics.jsonl")]
trl = json.loads(open(f"{out}/trl.json").read().strip().splitlines()[-1])["seconds_per_iteration"]
s, t = sum(swift[1:]) / len(swift[1:]), sum(trl[1:]) / len(trl[1:])
split = [l for l in open(f"{out}/swift.err") if "time split" in l]
print(f"| measure | swift-rlhf | TRL 0.19.1 PPOTrainer | ratio |")
print(f"| --- | --- | --- | --- |")
print(f"| s / PPO iteration (mean of iterations 2-{len(swift)}) | {s:.2f} | {t:.2f} | {t / s:.1f}x |")
print(f"| peak resident memory (MB) | {rss(out + '/swift.err'):.0f} | {rss(out + '/trl.err'):.0f} | {rss(out + '/trl.err') / rss(out + '/swift.err'):.2f}x |")
if split: print("swift-rlhf " + split[-1].strip())
EOF
rm -rf "$out"
