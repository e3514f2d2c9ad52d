"""Token ids from Hugging Face `tokenizers` for hard text, the reference for the Swift tokenizer.

Run from the repo root after make_model_fixtures.py (which writes the GPT-2 tokenizer.json):
    .venv/bin/python Scripts/reference/make_tokenizer_fixtures.py
With --trained DIR it also encodes the corpus texts with a tokenizer that `rlhf tokenizer train`
wrote, so the Swift test can check that its own trained tokenizer means the same to HF.
"""
import json, os, sys
from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
OUT = os.path.join(ROOT, "tokenizer-reference")

HARD = [
    "", "Hello world", " Hello  world ", "   leading spaces", "trailing spaces   ", "tabs\tand\t\ttabs",
    "new\nlines\n\n\nand\r\nwindows", "  \n  mixed \t whitespace\n", "I'm you're we've they'll she'd it's don't",
    "CAPS: I'M YOU'RE IT'S 'S 'T", "'sup 'twas ''quoted''", "numbers 1234567890 3.14159 1,000,000 2024-11-25",
    "x=1+2*3/4; y<=5 && z!=6 || !w", "punctuation!!! ??? ... ---- ((()))", "émigré naïve café façade jalapeño",
    "Ünïcödé — “quotes” ‘single’ «guillemets»", "日本語のテキストと中文文本", "مرحبا بالعالم", "Привет, мир!",
    "e\u0301 combining acute, a\u0308 umlaut", "emoji 🙂👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵", "math ∑∫√∞ ≠ ≤ ≥",
    "zero\u200bwidth and\u00a0nbsp and\u3000ideographic space", "<|endoftext|>", "before<|endoftext|>after",
    "two <|endoftext|><|endoftext|> in a row", "url https://example.com/a?b=c&d=e#f", "email someone@example.org",
    "code: def f(x):\n    return x ** 2  # square\n", "1st 2nd 3rd 4th 100th",
    "The quick brown fox jumps over the lazy dog. " * 8,
]

def main():
    tk = Tokenizer.from_file(os.path.join(ROOT, "gpt2-tokenizer", "tokenizer.json"))
    cases = [{"text": t, "ids": tk.encode(t).ids} for t in HARD]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "gpt2_hard_texts.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    if len(sys.argv) == 3 and sys.argv[1] == "--trained":
        trained = Tokenizer.from_file(os.path.join(sys.argv[2], "tokenizer.json"))
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(sys.argv[2])
        texts = HARD + [json.loads(l)["text"] for l in open(os.path.join(OUT, "train_corpus.jsonl"))][:50]
        rows = []
        for t in texts:
            a, b = trained.encode(t).ids, auto(t)["input_ids"]
            assert a == b, (t, a, b)
            rows.append({"text": t, "ids": a})
        with open(os.path.join(OUT, "trained_ids.json"), "w") as f:
            json.dump(rows, f, ensure_ascii=False, indent=0)
    print("wrote", os.path.normpath(OUT))

if __name__ == "__main__":
    main()
