#!/usr/bin/env python3
"""Builds a Stable Diffusion v1 `tokenizer/` folder (vocab.json, merges.txt, special_tokens_map.json,
tokenizer_config.json) from the CLIP BPE merges shipped in the open-clip-torch wheel
(open_clip/bpe_simple_vocab_16e6.txt.gz, MIT licence).

The vocabulary is built the way OpenAI CLIP's `SimpleTokenizer` builds it: the 256 byte characters of
GPT-2's bytes_to_unicode table, the same characters with `</w>`, the first 48894 merges joined
(49152 - 256 - 2), then `<|startoftext|>` and `<|endoftext|>`: 49408 entries.

Usage: python3 scripts/make_clip_tokenizer.py [OUTPUT_DIR]
       (default Sources/CLIP/Resources/clip-vit-large-patch14)
"""
import gzip
import json
import os
import importlib.util
import sys

NUM_MERGES = 49152 - 256 - 2  # reference CLIP: merges[1:49152-256-2+1]
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Sources/CLIP/Resources/clip-vit-large-patch14"
    os.makedirs(out, exist_ok=True)
    # find_spec locates the package without importing it (open_clip imports torchvision, absent here)
    package_dir = importlib.util.find_spec("open_clip").submodule_search_locations[0]
    source = os.path.join(package_dir, "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(source).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    assert len(merges) == NUM_MERGES and all(len(m) == 2 for m in merges)

    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == 49408, len(vocab)

    write_atomic(os.path.join(out, "vocab.json"), json.dumps(vocab, ensure_ascii=False, separators=(",", ":")))
    write_atomic(os.path.join(out, "merges.txt"), "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))

    def added(content):
        return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}

    special = {"bos_token": added(BOS), "eos_token": added(EOS), "pad_token": EOS, "unk_token": added(EOS)}
    write_atomic(os.path.join(out, "special_tokens_map.json"), json.dumps(special, indent=2) + "\n")
    config = {
        "add_prefix_space": False,
        "bos_token": dict(added(BOS), __type="AddedToken"),
        "do_lower_case": True,
        "eos_token": dict(added(EOS), __type="AddedToken"),
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": EOS,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": dict(added(EOS), __type="AddedToken"),
    }
    write_atomic(os.path.join(out, "tokenizer_config.json"), json.dumps(config, indent=2) + "\n")
    print(f"wrote {out}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
