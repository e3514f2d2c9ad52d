#!/usr/bin/env python3
"""llm.c's CPU trainer (`train_gpt2.c`) as a third training peer, built beside the project.

llm.c is not vendored: point --llmc at a checkout (or a bare git directory) of
github.com/karpathy/llm.c. This script copies `train_gpt2.c` and `llmc/` into .build-llmc/,
builds them as llm.c's own Makefile does on Linux (-Ofast -march=native -fopenmp -DOMP), and
runs them on a random-init checkpoint and random tokens written in llm.c's file formats, since
nothing here may download GPT-2's weights or a dataset. Only three lines of the C file change,
all outside the timed step: B and T come from --batch/--context, the loop runs --steps steps,
and the text sampling every 20 steps is skipped (it re-runs the full forward per token and
prints; it is not part of the step llm.c times).

Prints one JSON line in the shape of the other peers, the mean over the steps after the first:
    python3 Scripts/bench/llmc_peer.py --llmc ../llm.c --preset gpt2 --batch 4 --context 64 --threads 2
Needs numpy and a C compiler with OpenMP.
"""
import argparse, io, json, os, re, shutil, subprocess, sys, tarfile
from pathlib import Path

import numpy as np

from bench_shapes import PRESETS, training_flops

ROOT = Path(__file__).resolve().parents[2]


def copy_sources(llmc: Path, work: Path):
    """train_gpt2.c and llmc/ from a work tree, or from HEAD of a (bare) git directory."""
    if (llmc / "train_gpt2.c").exists():
        shutil.copy(llmc / "train_gpt2.c", work / "train_gpt2.c")
        shutil.copytree(llmc / "llmc", work / "llmc", dirs_exist_ok=True)
        return
    tar = subprocess.run(["git", "--git-dir", str(llmc), "archive", "HEAD", "train_gpt2.c", "llmc"],
                         check=True, capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(tar)).extractall(work)


def patch(src: str, batch: int, context: int, steps: int) -> str:
    edits = [
        (r"int B = 4;", f"int B = {batch};"),
        (r"int T = 64;", f"int T = {context};"),
        (r"step <= 40;", f"step <= {steps};"),
        (r"if \(step > 0 && step % 20 == 0\)", "if (0)"),
    ]
    for pattern, replacement in edits:
        src, n = re.subn(pattern, replacement, src)
        if n != 1:
            sys.exit(f"llmc_peer: train_gpt2.c no longer contains `{pattern}` exactly once; this script needs updating")
    return src


def write_checkpoint(path: Path, L: int, C: int, H: int, V: int, max_t: int):
    """llm.c's float32 checkpoint (version 3): a 256-int header, then the tensors in its order."""
    Vp = (V + 127) // 128 * 128  # llm.c pads the vocabulary to a multiple of 128
    header = np.zeros(256, dtype=np.int32)
    header[:8] = [20240326, 3, max_t, V, L, H, C, Vp]
    sizes = [Vp * C, max_t * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C,
             L * C, L * C, L * 4 * C * C, L * 4 * C, L * C * 4 * C, L * C, C, C]
    layer_norm_weights = {2, 8, 14}  # ln1w, ln2w, lnfw start at one, as GPT-2's do
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for i, n in enumerate(sizes):
            t = np.ones(n, np.float32) if i in layer_norm_weights else (rng.standard_normal(n) * 0.02).astype(np.float32)
            f.write(t.tobytes())


def write_tokens(path: Path, V: int, count: int, seed: int):
    """llm.c's token file: a 256-int header (magic, version 1, count), then uint16 tokens."""
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [20240520, 1, count]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.random.default_rng(seed).integers(0, V, count, dtype=np.uint16).tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llmc", required=True, type=Path, help="llm.c checkout or git directory")
    ap.add_argument("--preset", default="gpt2", choices=sorted(PRESETS))
    ap.add_argument("--vocab-size", type=int, default=50257)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--steps", type=int, default=6, help="timed steps; the first one is dropped as warm-up")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.vocab_size > 65535:
        sys.exit("llmc_peer: llm.c stores tokens as uint16")
    L, C, H = PRESETS[a.preset]

    work = ROOT / ".build-llmc"
    work.mkdir(exist_ok=True)
    copy_sources(a.llmc, work)
    src = (work / "train_gpt2.c").read_text()
    (work / "train_gpt2_bench.c").write_text(patch(src, a.batch, a.context, a.steps))
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-Ofast", "-march=native", "-fopenmp", "-DOMP", "-Wno-unused-result",
                    "train_gpt2_bench.c", "-lm", "-o", "train_gpt2_bench"], cwd=work, check=True)
    write_checkpoint(work / "gpt2_124M.bin", L, C, H, a.vocab_size, max(1024, a.context))
    tokens = a.batch * a.context * (a.steps + 2) + 1
    write_tokens(work / "dev/data/tinyshakespeare/tiny_shakespeare_train.bin", a.vocab_size, tokens, 1)
    write_tokens(work / "dev/data/tinyshakespeare/tiny_shakespeare_val.bin", a.vocab_size, a.batch * a.context * 6 + 1, 2)

    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    # wait4 gives this child's own peak memory; RUSAGE_CHILDREN would also count the compiler.
    with open(work / "run.log", "w") as log:
        child = subprocess.Popen(["./train_gpt2_bench"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    out = (work / "run.log").read_text()
    if status != 0:
        sys.exit(f"llmc_peer: train_gpt2 failed (wait status {status}):\n{out[-2000:]}")
    ms = [float(m) for m in re.findall(r"^step \d+: train loss \S+ \(took ([0-9.]+) ms\)", out, re.M)]
    if len(ms) < 2:
        sys.exit(f"llmc_peer: expected step timings in train_gpt2's output, found {len(ms)}:\n{out[-2000:]}")
    s = sum(ms[1:]) / len(ms[1:]) / 1000
    tokens = a.batch * a.context
    flops = training_flops(L, C, a.vocab_size, a.context, tokens)
    print(json.dumps({"side": "llm.c train_gpt2.c", "preset": a.preset, "threads": a.threads,
                      "train": {"secondsPerStep": s, "tokensPerSecond": tokens / s, "modelGFLOPS": flops / s / 1e9},
                      "peakRSSMB": usage.ru_maxrss / 1024,  # kilobytes on Linux
                      "compiler": subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]}))


if __name__ == "__main__":
    main()
