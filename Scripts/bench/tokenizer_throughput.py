"""Hugging Face `tokenizers` encoding throughput on the same corpus and tokenizer as
`rlhf bench tokenizer`, for the side-by-side figure (single thread for the loop; encode_batch
uses the library's own thread pool, as users would).

    RAYON_NUM_THREADS=1 .venv/bin/python Scripts/bench/tokenizer_throughput.py MODEL_DIR CORPUS.jsonl
"""
import json, sys, time
from tokenizers import Tokenizer

def main(model, corpus):
    texts = [json.loads(l)["text"] for l in open(corpus) if l.strip()]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tk = Tokenizer.from_file(f"{model}/tokenizer.json")
    t0 = time.perf_counter(); n = sum(len(tk.encode(t).ids) for t in texts); loop = time.perf_counter() - t0
    t0 = time.perf_counter(); tk.encode_batch(texts); batch = time.perf_counter() - t0
    print(f"{len(texts)} documents, {mb:.2f} MB, {n} tokens")
    print(f"tokenizers loop: {mb / loop:.2f} MB/s   encode_batch: {mb / batch:.2f} MB/s")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
