#!/usr/bin/env bash
# Side by side: swift-rlhf against two PyTorch peers on this machine, same config, batch, context
# and thread count, in one run, printed as one table:
#   transformers    Scripts/bench/pytorch_gpt2.py, GPT2LMHeadModel + AdamW (training and generation)
#   nanoGPT-style   Scripts/bench/nanogpt_peer.py, a compact plain-torch GPT-2 + fused AdamW (training)
#   llm.c           Scripts/bench/llmc_peer.py, llm.c's CPU train_gpt2.c (training), only when LLMC
#                   names an llm.c checkout or git directory (it is built in .build-llmc, never committed)
# Ratios > 1 mean swift-rlhf is better: faster, higher MFU, or less peak memory.
# Each workload runs in its own process (`--only train|generate`), so each peak resident memory
# (getrusage's ru_maxrss) is that workload's alone; the Python peaks include torch's libraries
# (the footer says how much was resident after the imports alone).
# Training runs in ROUNDS rounds (default 3), the three sides taking turns in each, and the table
# gives each side's median round: this machine's speed drifts by up to 40% within minutes (two
# one-round runs five minutes apart on 2026-12-05 gave 1.37x and 1.02x against nanoGPT-style),
# and taking turns spreads that drift over all sides. Each round's ratios are printed under it.
# swift-rlhf trains twice in each round: as one model, and with the batch split into LANES (default
# 2) micro-batches on copies of the model side by side (`rlhf pretrain --grad-accum N --lanes N`:
# the same sequences and mean loss per step, one core per lane); LANES=1 leaves that row out.
# Run it on an idle machine: the header prints the load average from before the run. On a busy
# one, torch's OpenMP threads spin-wait for cores they do not get (measured: the tiny model
# trained about 7x slower at 2 threads under a load of 4, and at full speed with OMP_WAIT_POLICY=PASSIVE),
# so the peers' numbers collapse far more than swift-rlhf's.
# The peers run in the reference virtualenv: PYTHON names its interpreter, or else .venv is used and,
# when missing, created from PyPI (Scripts/reference/requirements.txt). The Swift side needs none of it.
#   [LLMC=path/to/llm.c] [ROUNDS=3] [LANES=2] [RLHF_BIN=path/to/rlhf] Scripts/bench/compare.sh [preset] [batch] [context] [vocab]
set -euo pipefail
bin=${RLHF_BIN:+$(realpath -m -- "$RLHF_BIN")}  # before the cd below: a relative path is the caller's
cd "$(dirname "$0")/../.."
preset=${1:-gpt2}; batch=${2:-4}; context=${3:-64}; vocab=${4:-50257}
threads=${RLHF_THREADS:-$(nproc)}
rounds=${ROUNDS:-3}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive whole number, found '$rounds'" >&2; exit 64; }
lanes=${LANES:-2}
{ [[ "$lanes" =~ ^[1-9][0-9]*$ ]] && (( batch % lanes == 0 )); } || { echo "LANES must be a positive whole number dividing the batch $batch, found '$lanes'" >&2; exit 64; }
py=${PYTHON:-.venv/bin/python}
if [ -z "${PYTHON:-}" ] && [ ! -x "$py" ]; then
  echo "creating .venv for the PyTorch peers (torch, transformers; a few minutes, once)" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q -r Scripts/reference/requirements.txt
fi
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
args=(--preset "$preset" --batch "$batch" --context "$context" --vocab-size "$vocab")
# RLHF_BIN: an rlhf binary built elsewhere (another --scratch-path), used as it is. Otherwise
# the Makefile's flags, so switching between make and this script does not rebuild everything.
if [ -z "$bin" ]; then
  swift build -c release -Xswiftc -enable-testing --product rlhf >/dev/null
  bin=.build/release/rlhf
fi
[ -x "$bin" ] || { echo "RLHF_BIN '$bin' is not an executable" >&2; exit 64; }
rlhf() { RLHF_THREADS=$threads "$bin" "$@"; }
# Each side's training result per round, as JSON arrays for the table below.
ours_train="[" lanes_train="[" hf_train="[" nano_train="["
for ((r = 1; r <= rounds; r++)); do
  sep=$([ "$r" -gt 1 ] && echo , || true)
  echo "training, round $r of $rounds" >&2
  ours_train+="$sep$(rlhf bench model "${args[@]}" --only train)"
  if [ "$lanes" -gt 1 ]; then lanes_train+="$sep$(rlhf bench model "${args[@]}" --only train --lanes "$lanes")"; fi
  hf_train+="$sep$("$py" Scripts/bench/pytorch_gpt2.py "${args[@]}" --threads "$threads" --only train 2>/dev/null)"
  nano_train+="$sep$("$py" Scripts/bench/nanogpt_peer.py "${args[@]}" --threads "$threads")"
done
ours_train+="]" lanes_train+="]" hf_train+="]" nano_train+="]"
ours_gen=$(rlhf bench model "${args[@]}" --only generate)
hf_gen=$("$py" Scripts/bench/pytorch_gpt2.py "${args[@]}" --threads "$threads" --only generate 2>/dev/null)
llmc_train=null
if [ -n "${LLMC:-}" ]; then
  llmc_train=$("$py" Scripts/bench/llmc_peer.py --llmc "$LLMC" "${args[@]}" --threads "$threads")
fi
gemm=$(rlhf bench gemm --seconds 0.3)
ceiling=$(awk 'NR>2 {s+=$2; n++} END {printf "%.1f", s/n}' <<< "$gemm")
kernels=$(sed -n '1s/.*kernels: //p' <<< "$gemm")
# Generation's ceiling: each decoding step reads every weight once, from memory at this rate.
readbw=$(rlhf bench memory | sed -n 's/^read bandwidth: \([0-9.]*\) GB\/s.*/\1/p')
[ -n "$readbw" ] || { echo "could not read the bandwidth from 'rlhf bench memory'" >&2; exit 70; }
"$py" - "$ours_train" "$ours_gen" "$hf_train" "$hf_gen" "$nano_train" "$llmc_train" "$lanes_train" "$ceiling" "$load" "$kernels" "$readbw" <<'PY'
import json, sys
ots, og, hts, hg, nts, lt, lts = (json.loads(v) for v in sys.argv[1:8])
ceil, load, kernels, readbw = float(sys.argv[8]), sys.argv[9], sys.argv[10], float(sys.argv[11])
def median_round(results):
    """The round with the median training rate (the lower middle one for an even count)."""
    return sorted(results, key=lambda d: d["train"]["tokensPerSecond"])[(len(results) - 1) // 2]
ot, ht, nt = median_round(ots), median_round(hts), median_round(nts)
# A decoding step of b sequences reads the fp32 weights once: b · bandwidth / (4 · parameters)
# tokens/s at most, whatever the kernels (an upper bound: it leaves out the KV cache and activations).
# Only when the weights do not fit in the last-level cache: the tiny preset's 3.8 MB stay in it.
params = ot["train"]["parameters"]
bound = lambda k: int(k.split("_")[-1]) * readbw * 1e9 / (4 * params)
def last_level_cache_bytes():
    """The largest cache sysfs lists for CPU 0 ("307200K"), or None where it lists none."""
    import glob
    sizes = []
    for f in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        text = open(f).read().strip()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * scale)
    return max(sizes) if sizes else None
llc = last_level_cache_bytes()
memory_bound = llc is None or 4 * params > llc
print(f"preset {ot['preset']}, {ot['threads']} threads, torch {ht['torch']}, nanoGPT-style AdamW {nt['adamw']}, "
      f"sgemm ceiling {ceil:.1f} GFLOP/s (OpenBLAS's {kernels} kernels, mean of GPT-2 shapes)")
busy = "" if load == "?" or float(load) < 0.5 else "  (NOT idle: numbers are not comparable, see the script's header)"
print(f"load average (1 min) before the run: {load}{busy}")
if memory_bound:
    print(f"memory read ceiling {readbw:.1f} GB/s (`rlhf bench memory`): a decoding step reads the {params / 1e6:.1f}M fp32 weights once, "
          f"so batch 1 generates at most {bound('batch_1'):.0f} tokens/s")
else:
    print(f"the {4 * params / 1e6:.1f} MB of weights fit in the {llc / 1e6:.0f} MB last-level cache: memory bandwidth does not bound generation")
print("ratio = how many times better swift-rlhf is (rates: swift/peer; s/step and memory: peer/swift)")
print(f"training: each side's median of {len(ots)} round(s), the sides taking turns in each round")
cols = ["swift-rlhf", "transformers", "nanoGPT-style", "x transformers", "x nanoGPT"] + (["llm.c", "x llm.c"] if lt else [])
print(f"{'measure':30}" + "".join(f"{c:>16}" for c in cols))
def row(name, fmt, a, b, c=None, d=None, lower_is_better=False):
    def ratio(peer):
        if peer is None: return ""
        return f"{(peer / a if lower_is_better else a / peer):.2f}"
    cells = [fmt.format(a), fmt.format(b), "" if c is None else fmt.format(c), ratio(b), ratio(c)]
    if lt: cells += ["" if d is None else fmt.format(d), ratio(d)]
    print(f"{name:30}" + "".join(f"{v:>16}" for v in cells))
T = lambda d: d["train"]
# The llm.c peer (lt) only trains, and only runs when LLMC is set; None leaves its cells empty.
row("train tokens/s", "{:.0f}", T(ot)["tokensPerSecond"], T(ht)["tokensPerSecond"], T(nt)["tokensPerSecond"], lt and T(lt)["tokensPerSecond"])
row("train s/step", "{:.4f}", T(ot)["secondsPerStep"], T(ht)["secondsPerStep"], T(nt)["secondsPerStep"], lt and T(lt)["secondsPerStep"], lower_is_better=True)
row("train MFU vs sgemm ceiling", "{:.1%}", *(T(d)["modelGFLOPS"] / ceil for d in (ot, ht, nt)), lt and T(lt)["modelGFLOPS"] / ceil)
if lts:
    # The same steps as micro-batches on copies of the model side by side; the peers' cells repeat theirs.
    olt = median_round(lts)
    n = olt["lanes"]
    row(f"train tokens/s, {n} lanes", "{:.0f}", T(olt)["tokensPerSecond"], T(ht)["tokensPerSecond"], T(nt)["tokensPerSecond"], lt and T(lt)["tokensPerSecond"])
    row(f"train MFU, {n} lanes", "{:.1%}", T(olt)["modelGFLOPS"] / ceil, T(ht)["modelGFLOPS"] / ceil, T(nt)["modelGFLOPS"] / ceil, lt and T(lt)["modelGFLOPS"] / ceil)
for k in sorted(og["generate_tokens_per_second"], key=lambda s: int(s.split("_")[-1])):
    row(f"generate tokens/s {k.replace('_', ' ')}", "{:.0f}", og["generate_tokens_per_second"][k], hg["generate_tokens_per_second"][k])
    if memory_bound:
        row(f"  share of read ceiling", "{:.1%}", og["generate_tokens_per_second"][k] / bound(k), hg["generate_tokens_per_second"][k] / bound(k))
row("peak RSS train (MB)", "{:.0f}", ot["peakRSSMB"], ht["peakRSSMB"], nt["peakRSSMB"], lt and lt["peakRSSMB"], lower_is_better=True)
if lts:
    row(f"peak RSS train, {olt['lanes']} lanes (MB)", "{:.0f}", olt["peakRSSMB"], ht["peakRSSMB"], nt["peakRSSMB"], lt and lt["peakRSSMB"], lower_is_better=True)
row("peak RSS generate (MB)", "{:.0f}", og["peakRSSMB"], hg["peakRSSMB"], lower_is_better=True)
print(f"Python peaks include what was resident after importing, before any model: transformers {ht['importRSSMB']:.0f} MB, "
      f"nanoGPT-style {nt['importRSSMB']:.0f} MB")
if len(ots) > 1:
    rate = lambda d: d["train"]["tokensPerSecond"]
    print("train tokens/s by round (swift-rlhf / transformers / nanoGPT-style, x transformers, x nanoGPT): " + "; ".join(
        f"{rate(o):.0f} / {rate(h):.0f} / {rate(n):.0f}, {rate(o) / rate(h):.2f}, {rate(o) / rate(n):.2f}" for o, h, n in zip(ots, hts, nts)))
    if lts:
        print(f"swift-rlhf with {olt['lanes']} lanes by round (tokens/s, x transformers, x nanoGPT): " + "; ".join(
            f"{rate(o):.0f}, {rate(o) / rate(h):.2f}, {rate(o) / rate(n):.2f}" for o, h, n in zip(lts, hts, nts)))
PY
