"""The PyTorch peer of `rlhf bench model`: transformers' GPT2LMHeadModel, eager float32,
torch.optim.AdamW, the same config, batch, context, thread count and random-token data.
Prints one JSON line in the same shape, with the process's peak resident memory (peakRSSMB);
`--only train|generate` runs one part, so that the peak is that part's.

    .venv/bin/python Scripts/bench/pytorch_gpt2.py --preset gpt2 --batch 4 --context 64 --threads 2
"""
import argparse, json, resource, time
import torch
from transformers import GPT2Config, GPT2LMHeadModel

IMPORT_RSS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # libraries alone, before any model

from bench_shapes import PRESETS, training_flops

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpt2"); ap.add_argument("--vocab-size", type=int, default=50257)
    ap.add_argument("--batch", type=int, default=4); ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5); ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--gen-batches", default="1,8"); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["train", "generate"], help="run one part only (default: both)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    L, C, H = PRESETS[a.preset]
    cfg = GPT2Config(vocab_size=a.vocab_size, n_positions=max(a.context, 8 + a.new_tokens, 128), n_embd=C, n_layer=L, n_head=H,
                     resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    m = GPT2LMHeadModel(cfg)
    out = {"side": "pytorch+transformers", "preset": a.preset, "threads": a.threads}
    if a.only != "generate":
        out["train"] = train(m, a, L, C)
    if a.only != "train":
        out["generate_tokens_per_second"] = generate(m, a)
    out["peakRSSMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    out["importRSSMB"] = IMPORT_RSS_MB
    out["torch"] = torch.__version__
    print(json.dumps(out))

def train(m, a, L, C):
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    x = torch.randint(0, a.vocab_size, (a.batch, a.context + 1))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = m(x[:, :-1], labels=x[:, :-1]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    for _ in range(2): step()
    t0 = time.perf_counter()
    for _ in range(a.steps): step()
    s = (time.perf_counter() - t0) / a.steps
    tokens = a.batch * a.context
    flops = training_flops(L, C, a.vocab_size, a.context, tokens)
    return {"secondsPerStep": s, "tokensPerSecond": tokens / s, "modelGFLOPS": flops / s / 1e9,
            "parameters": sum(p.numel() for p in m.parameters())}

def generate(m, a):
    m.eval()
    gen = {}
    for b in [int(v) for v in a.gen_batches.split(",")]:
        p = torch.randint(0, a.vocab_size, (b, 8))
        kw = dict(do_sample=True, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, pad_token_id=0,
                  attention_mask=torch.ones_like(p))
        with torch.no_grad():
            m.generate(p, **kw)
            t0 = time.perf_counter()
            for _ in range(3): m.generate(p, **kw)
        gen[f"batch_{b}"] = b * a.new_tokens * 3 / (time.perf_counter() - t0)
    return gen

if __name__ == "__main__":
    main()
