"""A second PyTorch peer of `rlhf bench model`, training only: a compact GPT-2 in plain torch, the
way a hand-written nanoGPT-style model does it, without transformers' generic layers.

Same architecture as GPT-2 (and as swift-rlhf's model): learned position embeddings, pre-LN
blocks, one fused q/k/v Linear, causal `scaled_dot_product_attention`, GELU (tanh), lm_head tied
to the token embedding, dropout 0. Optimiser: torch.optim.AdamW with fused=True when this torch
has the fused CPU kernel, else foreach=True (said in the JSON as "adamw"). Same arguments,
config numbers, random-token data, warm-up, clipping and FLOP formula as pytorch_gpt2.py; prints
one JSON line with "train" and peakRSSMB. There is no generation here: --new-tokens only sizes
the position table as the other sides do, and --gen-batches is accepted and ignored.

    .venv/bin/python Scripts/bench/nanogpt_peer.py --preset gpt2 --batch 4 --context 64 --threads 2
"""
import argparse, json, math, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

IMPORT_RSS_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # libraries alone, before any model

from bench_shapes import PRESETS, training_flops


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, eps=1e-5)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-5)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)

    def attend(self, h):
        b, t, c = h.shape
        # (b, t, 3c) -> three (b, heads, t, c/heads) views
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attend(self.norm1(x))
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, positions, layers, width, heads):
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(positions, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width, eps=1e-5)
        # GPT-2's initialisation: N(0, 0.02), residual output projections scaled by 1/sqrt(2·layers).
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("out.weight", "down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tokens(idx) + self.positions(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.norm(x), self.tokens.weight)  # tied lm_head, no bias
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def make_adamw(params, lr):
    """Fused AdamW if this torch runs it on CPU (torch >= 2.4), else the multi-tensor (foreach) one."""
    try:
        opt = torch.optim.AdamW(params, lr=lr, fused=True)
        probe = nn.Parameter(torch.zeros(2))  # constructing can succeed where stepping fails
        probe.grad = torch.ones(2)
        torch.optim.AdamW([probe], lr=lr, fused=True).step()
        return opt, "fused"
    except (RuntimeError, TypeError, ValueError) as e:
        print(f"nanogpt_peer: fused AdamW not available on CPU ({e}); using foreach=True", file=sys.stderr)
        return torch.optim.AdamW(params, lr=lr, foreach=True), "foreach"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpt2", choices=sorted(PRESETS))
    ap.add_argument("--vocab-size", type=int, default=50257)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--new-tokens", type=int, default=64, help="only sizes the position table, as on the other sides")
    ap.add_argument("--gen-batches", default="1,8", help="ignored: this peer does not generate")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["train"], help="accepted for symmetry; this peer only trains")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    L, C, H = PRESETS[a.preset]
    m = GPT(a.vocab_size, max(a.context, 8 + a.new_tokens, 128), L, C, H)
    m.train()
    opt, kind = make_adamw(list(m.parameters()), 1e-4)
    x = torch.randint(0, a.vocab_size, (a.batch, a.context + 1))
    inputs, targets = x[:, :-1], x[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        m(inputs, targets).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    s = (time.perf_counter() - t0) / a.steps
    tokens = a.batch * a.context
    flops = training_flops(L, C, a.vocab_size, a.context, tokens)
    print(json.dumps({"side": "pytorch nanoGPT-style", "preset": a.preset, "threads": a.threads,
                      "train": {"secondsPerStep": s, "tokensPerSecond": tokens / s, "modelGFLOPS": flops / s / 1e9,
                                "parameters": sum(p.numel() for p in m.parameters())},
                      "peakRSSMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kilobytes on Linux
                      "importRSSMB": IMPORT_RSS_MB,
                      "adamw": kind, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
