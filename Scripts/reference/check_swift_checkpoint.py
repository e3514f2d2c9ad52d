"""Loads a checkpoint directory written by rlhf with transformers and prints, as JSON, the eval
loss on a JSONL file exactly as `rlhf eval` defines it (each line encoded alone with nothing
added, every token after the first predicted, token-weighted mean) — or, for a reward model,
each line's score.

    /work/venv/bin/python Scripts/reference/check_swift_checkpoint.py DIR DATA.jsonl

Checked by hand: a checkpoint from `rlhf pretrain` gives the same loss as `rlhf eval --json`
(5.3673592264 vs 5.3673591866), and one from `rlhf reward` the same scores as `rlhf score`
(within 5e-7).
"""
import json, sys, math
import torch
from transformers import AutoConfig, AutoTokenizer, GPT2LMHeadModel, GPT2ForSequenceClassification

def main(d, data):
    cfg = AutoConfig.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    texts = []
    with open(data, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                texts.append(json.loads(line)["text"])
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"{data}:{n}: expected a JSON object with a \"text\" string ({e})")
    if "GPT2ForSequenceClassification" in (cfg.architectures or []):
        m = GPT2ForSequenceClassification.from_pretrained(d).eval()
        with torch.no_grad():
            scores = [m(torch.tensor([tok(t)["input_ids"]])).logits[0, 0].item() for t in texts]
        print(json.dumps({"scores": scores}))
        return
    m = GPT2LMHeadModel.from_pretrained(d).eval()
    total, n = 0.0, 0
    for t in texts:
        ids = tok(t)["input_ids"]
        if len(ids) < 2: continue
        with torch.no_grad():
            lp = torch.log_softmax(m(torch.tensor([ids])).logits[0].double(), -1)
        total -= sum(lp[j, ids[j + 1]].item() for j in range(len(ids) - 1))
        n += len(ids) - 1
    print(json.dumps({"loss": total / n, "perplexity": math.exp(total / n), "tokens": n}))

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check_swift_checkpoint.py MODEL_DIR DATA.jsonl")
    main(sys.argv[1], sys.argv[2])
