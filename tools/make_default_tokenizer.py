#!/usr/bin/env python3
"""Builds the default job's tokenizer: byte-level BPE (HF tokenizers JSON) with merges learned on the synthetic
corpus, plus the Alpaca template's two fixed pieces as single added tokens. Usage:
  make_default_tokenizer.py SYNTHETIC_DIR BASE_TOKENIZER_JSON OUT_JSON VOCAB_SIZE"""
import collections, json, re, sys

HEADER = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
          "request.\n\n### Instruction:\n")
RESPONSE = "\n\n### Response:\n"
PRE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def byte_chars():
    keep = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def main(data_dir, base, out, vocab_size):
    base_json = json.load(open(base))
    bc = byte_chars()
    texts = []
    for name in ["pretrain.json", "finetune_safe.json", "finetune_harmful.json", "stl.json"]:
        for ex in json.load(open(f"{data_dir}/{name}")):
            texts.append(ex["instruction"])
            texts.append(ex["output"])
    words = collections.Counter()
    for t in texts:
        for w in PRE.findall(t):
            words[tuple(bc[b] for b in w.encode("utf-8"))] += 1
    specials = ["<s>", "</s>", "<pad>"]
    vocab = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab[bc[b]] = len(vocab)
    merges = []
    words = {w: c for w, c in words.items()}
    while len(vocab) < vocab_size - 2:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if n < 2:
            break
        merges.append([a, b])
        vocab[a + b] = len(vocab)
        new = {}
        for w, c in words.items():
            out_w, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out_w.append(a + b)
                    i += 2
                else:
                    out_w.append(w[i])
                    i += 1
            new[tuple(out_w)] = new.get(tuple(out_w), 0) + c
        words = new
    added = [dict(id=i, content=s, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True)
             for i, s in enumerate(specials)]
    for piece in [HEADER, RESPONSE]:
        added.append(dict(id=len(vocab), content=piece, single_word=False, lstrip=False, rstrip=False,
                          normalized=False, special=False))
        vocab[piece] = len(vocab)
    tok = dict(base_json)
    tok["added_tokens"] = added
    tok["model"] = dict(base_json["model"], vocab=vocab, merges=merges)
    json.dump(tok, open(out, "w"), ensure_ascii=False, indent=1)
    print(f"{len(vocab)} ids, {len(merges)} merges -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
