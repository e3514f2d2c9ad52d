#!/usr/bin/env python3
"""Does a demo model copy the order number from its context?

For every document of a world's pretraining corpus (among the first --docs) whose answer names
the request's own order number, feed the text up to that number's `#` to the model in
transformers and check whether the greedy guess of each of the number's tokens is right
(teacher-forced). Prints the share of documents where all of them are, and the mean
log-probability of the whole number. Run on a demo run's base model:

    .venv/bin/python Scripts/reference/copy_check.py RUN/base RUN/world/pretrain.jsonl
"""
import argparse
import json
import re

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("model", help="model directory (config.json, model.safetensors, tokenizer.json)")
parser.add_argument("corpus", help="pretrain.jsonl of the demo world")
parser.add_argument("--docs", type=int, default=1200, help="documents read from the start of the corpus")
args = parser.parse_args()

torch.set_num_threads(1)
tok = Tokenizer.from_file(f"{args.model}/tokenizer.json")
model = GPT2LMHeadModel.from_pretrained(args.model).eval()
eos = model.config.eos_token_id
window = model.config.n_positions

checked = exact = 0
logp_sum = 0.0
with open(args.corpus) as f:
    docs = [json.loads(line)["text"] for _, line in zip(range(args.docs), f)]
for text in docs:
    prompt, sep, _ = text.partition("\nAgent:")
    number = re.search(r"#(\d+)", prompt) if sep else None
    if not number:
        continue  # an order notice, or a request without a number
    at = text.find("#" + number.group(1), len(prompt))
    if at < 0:
        continue  # the answer names no number or a wrong one
    # "#" and the digits are separate pre-tokens, so the text up to "#" encodes as a prefix.
    before = tok.encode(text[: at + 1]).ids
    full = tok.encode(text[: at + 1 + len(number.group(1))]).ids
    ids = ([eos] + full)[-window:]
    start = len(ids) - (len(full) - len(before))
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits, -1)
    targets = range(start, len(ids))
    exact += all(logits[j - 1].argmax().item() == ids[j] for j in targets)
    logp_sum += sum(logprobs[j - 1, ids[j]].item() for j in targets)
    checked += 1
print(json.dumps({"documents": checked, "greedy_exact": exact / max(checked, 1),
                  "mean_logprob": logp_sum / max(checked, 1)}))
