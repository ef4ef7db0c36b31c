"""Reference ids for the toy tokenizer from transformers' CLIPTokenizer (slow, Python BPE).

Usage:
  swift run sepme toy-vocab --output /tmp/toy-tok --list-captions /tmp/toy-captions.txt
  python3 scripts/toy_tokenizer_fixture.py Sources/Toy/Resources/tokenizer /tmp/toy-captions.txt \
      Tests/ToyTests/Resources/toy-tokenizer-ids.json

Writes {"captions": [...], "ids": [[bos, ..., eos]], "padded": [[16 ids]]} for every caption of the
caption list (ToyCaption.coveringCaptions(): each training and held-out template with every attribute
word).
"""
import json
import re
import sys

from transformers import CLIPTokenizer


def main(folder, captions_path, out_path):
    tok = CLIPTokenizer.from_pretrained(folder)
    captions = [line for line in open(captions_path, encoding="utf-8").read().split("\n") if line]
    ids = [tok(c)["input_ids"] for c in captions]
    padded = [tok(c, padding="max_length", max_length=16, truncation=True)["input_ids"] for c in captions]
    unk = tok.unk_token_id
    for c, i in zip(captions, ids):
        assert len(i) <= 16, (c, i)
        # Words as CLIP's pre-tokenizer splits them: letter runs, and punctuation runs (",").
        assert len(i) == len(re.findall(r"[a-z]+|[^\sa-z]+", c)) + 2, ("a word is not a single token", c, i)
        assert unk not in i[1:-1], (c, i)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write('"captions": ' + json.dumps(captions) + ",\n")
        f.write('"ids": [' + ",\n".join(json.dumps(i) for i in ids) + "],\n")
        f.write('"padded": [' + ",\n".join(json.dumps(i) for i in padded) + "]\n}\n")
    print(f"wrote {out_path}: {len(captions)} captions, vocab size {len(tok)}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
