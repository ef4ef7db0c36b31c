#!/usr/bin/env python3
"""Reference token ids for the Swift CLIP tokenizer (Tests/CLIPTests/TokenizerTests.swift).

Loads transformers' CLIPTokenizer from Sources/CLIP/Resources/clip-vit-large-patch14 (made by
scripts/make_clip_tokenizer.py) exactly as diffusers' StableDiffusionPipeline does
(`CLIPTokenizer.from_pretrained(folder)`, then `padding="max_length", max_length=77, truncation=True`)
and writes Tests/CLIPTests/Resources/tokenizer-fixtures.json:

  prompts:  text, ids (no padding, BOS/EOS added), padded (77 ids, stored as `padded_head` plus
            `padded_pad` trailing pad ids), decoded (`decode(ids, skip_special_tokens=True)`)
  variants: special-token configurations (special_tokens_map.json / tokenizer_config.json contents)
            with ids for a few prompts each: normalized flags, "!" padding, model_max_length
  small_bpe: a small BPE (CLIP's first SMALL_MERGES merges) written both as vocab.json + merges.txt and
            as tokenizer.json (Resources/small-bpe/), with its ids for a subset of prompts

transformers 5.x has a single CLIPTokenizer (tokenizers backend); there is no slow/ftfy variant left to
compare. For information the script prints how many prompts the original OpenAI CLIP Python cleanup
(html.unescape twice, whitespace_clean, lowercase; ftfy absent) would tokenise differently.

Usage: python3 scripts/make_tokenizer_fixtures.py
"""
import html
import json
import os
import random
import shutil
import tempfile

import regex
from transformers import CLIPTokenizer

RES = "Tests/CLIPTests/Resources"
FOLDER = os.path.join(os.path.dirname(__file__), "..", "Sources", "CLIP", "Resources", "clip-vit-large-patch14")
SMALL_MERGES = 2000


def handwritten_prompts():
    p = [
        "", " ", "   ", "\t", "\n", "a", "A", "a photo of a cat", "A Photo Of A CAT",
        "a photograph of an astronaut riding a horse",
        "portrait of a woman, oil painting, highly detailed, 8k, trending on artstation",
        "masterpiece, best quality, (ultra-detailed:1.2), [background], {colorful}",
        "Van Gogh style painting of a starry night over the city",
        "it's", "It's", "IT'S", "don't", "we're", "they've", "I'm", "you'll", "he'd", "I'M", "WE'RE",
        "''s", "'sun", "'tis", "rock 'n' roll", "o'clock", "the cat's toy", "the dogs' toys", "'", "''", "'''s",
        "’s curly apostrophe’s", "“quoted” text", "it ' s", "'S", "'LL", "'D'",
        "1", "12", "123456789", "3.14159", "1,000,000", "2024-01-01", "v1.5", "sd2.1", "4k 8k 16k", "x2", "100%",
        "½ ¼ ¾", "x² + y³", "Ⅻ ⅷ", "①②③", "٣٤٥", "१२३", "１２３", "2nd 3rd 4th",
        "hello, world!", "wait... what?!", "!!!", "???", "--", "—em dash—", "a-b-c", "a_b_c", "a/b\\c",
        "(a) [b] {c} <d>", "@user #hashtag $100 ^caret ~tilde `code`", "*bold* **very bold**", "a+b=c", "|pipe|",
        "&amp; &lt; &gt; &quot; &#39; &nbsp;", "&amp;amp;", "Tom &amp; Jerry", "<b>bold</b>", "<br/>", "&#x27;",
        "café", "CAFÉ", "naïve", "résumé", "Ångström", "Crème brûlée", "jalapeño", "Straße", "STRASSE",
        "cafe\u0301", "e\u0301e\u0300", "A\u030a", "o\u0308", "İstanbul", "ıi", "ΣΑΣ", "σας ὀδυσσεύς", "Ǆǅǆ", "ﬁ ligature",
        "Москва", "ПРИВЕТ мир", "Ελληνικά", "עברית", "العربية", "हिन्दी", "नमस्ते", "ไทย", "ქართული", "Հայերեն",
        "猫の写真", "一只猫", "東京タワー", "ｶﾀｶﾅ", "漢字かなカナ", "한국어", "안녕하세요", "\u1100\u1161\u11a8", "中文，标点。",
        "🐱", "🐱🐶", "a 🐱 cat", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "❤️", "☃", "★☆", "→←↑↓", "∑∫√∞", "€£¥", "©®™", "°C",
        "ｆｕｌｌｗｉｄｔｈ", "ＡＢＣ", "𝔣𝔯𝔞𝔨𝔱𝔲𝔯", "𝟙𝟚𝟛", "ℌ", "\u00ad soft hyphen", "zero\u200bwidth", "bom\ufeffhere",
        "a  b", "a   b    c", "a\tb", "a\nb", "a\r\nb", "a\n\n\nb", " leading", "trailing ", "  both  ",
        "a\u00a0b", "a\u3000b", "a\u2028b", "a\u2029b", "a\u0085b", "a\u1680b", "a\u2009b", "a\u202fb", "a\u205fb",
        "a\u000bb", "a\u000cb", "a\u001cb", "a\u001fb", "a\u180eb", "a\u200bb", "a\u2060b",
        "<|startoftext|>", "<|endoftext|>", "<|endoftext|>x", "x<|endoftext|>", "a<|endoftext|>b",
        "<|endoftext|><|endoftext|>", "<|startoftext|>hello<|endoftext|>", "<|ENDOFTEXT|>", "<|StartOfText|>",
        "<|endof", "<|endoftext", "endoftext|>", "<||>", "<|startoftext|>|>", "!<|endoftext|>", " <|endoftext|> ",
        "</w>", "a</w>b", "<w>", "##", "Ġ", "Ċ", "âĢĭ", "\\n", "\\t",
        "hello\x00world", "\x7f", "\x01\x02", "\ud7ff", "\ue000 private", "\U0001F9D1\u200d\U0001F680",
    ]
    long_sentence = ("a highly detailed photograph of a majestic lion standing on a rock at sunset, "
                     "golden hour, dramatic lighting, shallow depth of field, bokeh, 85mm lens, ")
    p += [long_sentence * 2, long_sentence * 4, "word " * 80, "word " * 75, "word " * 74, "word " * 76,
          "1" * 100, "!" * 300, "猫" * 90, "🐱" * 40, ", ".join(str(i) for i in range(60)),
          "supercalifragilisticexpialidocious" * 10, "a" * 500]
    return p


def random_prompts(count, seed=1234):
    rng = random.Random(seed)
    words = ["cat", "dog", "photo", "painting", "Astronaut", "HORSE", "city", "neon", "cyberpunk", "forest",
             "portrait", "detailed", "4k", "hdr", "van", "gogh", "monet", "café", "naïve", "東京", "猫", "🐱",
             "it's", "don't", "I'm", "o'clock", "x-ray", "3d", "f/1.8", "50mm", "(best:1.3)", "[lowres]", "<lora>",
             "&amp;", "über", "Σ", "İ", "ß", "½", "²", "<|endoftext|>", "__init__", "#1", "@home", "e\u0301"]
    separators = [" ", " ", " ", ", ", ",", "  ", "\t", "\n", "-", ". ", "!", "\u00a0", "\u3000", "'", "/"]
    out = []
    for _ in range(count):
        n = rng.randint(1, 30)
        parts = []
        for _ in range(n):
            w = rng.choice(words)
            r = rng.random()
            if r < 0.15:
                w = w.upper()
            elif r < 0.3:
                w = w.capitalize()
            parts.append(w)
            parts.append(rng.choice(separators))
        out.append("".join(parts))
    for _ in range(count // 3):  # random scalars from mixed Unicode blocks
        blocks = [(0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x900, 0x97F),
                  (0x3040, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC40), (0x1F300, 0x1F64F), (0x2000, 0x206F),
                  (0xFF00, 0xFF60), (0x2150, 0x218F), (0x0009, 0x000D)]
        s = []
        for _ in range(rng.randint(1, 25)):
            lo, hi = rng.choice(blocks)
            c = rng.randint(lo, hi)
            if 0xD800 <= c <= 0xDFFF:
                continue
            s.append(chr(c))
        out.append("".join(s))
    return out


def compact_padded(padded, pad_id):
    count = 0
    while count < len(padded) and padded[len(padded) - 1 - count] == pad_id:
        count += 1
    return padded[: len(padded) - count], count


def reference_ids(tok, prompts):
    rows = []
    for text in prompts:
        ids = tok(text).input_ids
        padded = tok(text, padding="max_length", max_length=77, truncation=True).input_ids
        assert len(padded) == 77
        head, pad = compact_padded(padded, tok.pad_token_id)
        rows.append({"text": text, "ids": ids, "padded_head": head, "padded_pad": pad,
                     "decoded": tok.decode(ids, skip_special_tokens=True)})
    return rows


def openai_clip_cleanup_ids(tok, text):
    """The original CLIP Python path without ftfy: html.unescape twice, whitespace_clean, lower."""
    text = html.unescape(html.unescape(text)).strip()
    text = regex.sub(r"\s+", " ", text).strip().lower()
    return tok(text).input_ids


def added(content, normalized):
    return {"content": content, "lstrip": False, "normalized": normalized, "rstrip": False, "single_word": False}


VARIANT_PROMPTS = ["a photo of a cat", "hello!!! world!", "!", "<|endoftext|> x", "<|ENDOFTEXT|> x",
                   "<|StartOfText|> y", "<|startoftext|>z", "word " * 80, ""]


def variants():
    bos, eos = "<|startoftext|>", "<|endoftext|>"
    typed = lambda d: dict(d, __type="AddedToken")
    return {
        "no_config": (None, None),
        "config_only": (None, {"model_max_length": 77}),
        "all_normalized": ({"bos_token": added(bos, True), "eos_token": added(eos, True),
                            "pad_token": added(eos, True), "unk_token": added(eos, True)}, None),
        "all_strings": ({"bos_token": bos, "eos_token": eos, "pad_token": eos, "unk_token": eos}, None),
        "pad_bang": ({"bos_token": added(bos, True), "eos_token": added(eos, True), "pad_token": "!",
                      "unk_token": added(eos, True)}, {"model_max_length": 77}),
        "config_pad_bang_max_64": (None, {"model_max_length": 64, "pad_token": "!",
                                          "bos_token": typed(added(bos, True)), "eos_token": typed(added(eos, False))}),
        "decoder_flags": ({"pad_token": "!"}, {"model_max_length": 77, "pad_token": eos, "added_tokens_decoder": {
            "49406": dict(added(bos, True), special=True), "49407": dict(added(eos, True), special=True)}}),
    }


def write_json(path, obj, indent=None):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def make_small_bpe(out_dir):
    """CLIP's first SMALL_MERGES merges: a valid, smaller BPE; saved as vocab+merges and tokenizer.json."""
    vocab = json.load(open(f"{FOLDER}/vocab.json", encoding="utf-8"))
    merges = open(f"{FOLDER}/merges.txt", encoding="utf-8").read().split("\n")[1 : SMALL_MERGES + 1]
    tokens = [t for t, i in sorted(vocab.items(), key=lambda kv: kv[1]) if i < 512]
    tokens += ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    small_vocab = {t: i for i, t in enumerate(tokens)}
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/vocab.json", "w", encoding="utf-8") as f:
            json.dump(small_vocab, f, ensure_ascii=False)
        with open(f"{tmp}/merges.txt", "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        for name in ["special_tokens_map.json", "tokenizer_config.json"]:
            shutil.copy(f"{FOLDER}/{name}", tmp)
        from_files = CLIPTokenizer.from_pretrained(tmp)
        os.makedirs(out_dir, exist_ok=True)
        for name in ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"]:
            shutil.copy(f"{tmp}/{name}", out_dir)
        # tokenizer.json as tokenizers serialises it (merges as [a, b] pairs); its own subfolder so that
        # the Swift loader takes the tokenizer.json path.
        json_dir = f"{out_dir}/json"
        os.makedirs(json_dir, exist_ok=True)
        from_files.backend_tokenizer.save(f"{json_dir}/tokenizer.json", pretty=False)
        for name in ["special_tokens_map.json", "tokenizer_config.json"]:
            shutil.copy(f"{tmp}/{name}", json_dir)
    from_json = CLIPTokenizer.from_pretrained(f"{out_dir}/json")
    # tokenizer.json alone (no special_tokens_map / tokenizer_config): TokenizerTests loads this layout too.
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(f"{json_dir}/tokenizer.json", tmp)
        json_only = CLIPTokenizer.from_pretrained(tmp)
    return from_files, from_json, json_only


def main():
    prompts = handwritten_prompts() + random_prompts(330)
    prompts = list(dict.fromkeys(prompts))
    tok = CLIPTokenizer.from_pretrained(FOLDER)
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, len(tok)) == (49406, 49407, 49407, 49408)
    rows = reference_ids(tok, prompts)

    differ = [r["text"] for r in rows if openai_clip_cleanup_ids(tok, r["text"]) != r["ids"]]
    print(f"{len(differ)} of {len(rows)} prompts tokenise differently with the original CLIP cleanup "
          f"(html.unescape + whitespace_clean), e.g. {differ[:5]!r}")

    variant_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (special_map, config) in variants().items():
            d = f"{tmp}/{name}"
            os.makedirs(d)
            for f in ["vocab.json", "merges.txt"]:
                os.symlink(os.path.abspath(f"{FOLDER}/{f}"), f"{d}/{f}")
            if special_map is not None:
                write_json(f"{d}/special_tokens_map.json", special_map)
            if config is not None:
                write_json(f"{d}/tokenizer_config.json", config)
            vt = CLIPTokenizer.from_pretrained(d)
            max_len = vt.model_max_length if vt.model_max_length < 10**9 else 77
            variant_rows.append({
                "name": name, "special_tokens_map": special_map, "tokenizer_config": config,
                "bos": vt.bos_token_id, "eos": vt.eos_token_id, "pad": vt.pad_token_id, "max_length": max_len,
                "prompts": [{"text": t, "ids": vt(t).input_ids,
                             "padded": vt(t, padding="max_length", max_length=max_len, truncation=True).input_ids}
                            for t in VARIANT_PROMPTS],
            })

    from_files, from_json, json_only = make_small_bpe(f"{RES}/small-bpe")
    small_prompts = prompts[::4] + [t for t in prompts if "<|" in t.lower()]
    small_prompts = list(dict.fromkeys(small_prompts))
    small_rows = []
    for text in small_prompts:
        a, b, c = from_files(text).input_ids, from_json(text).input_ids, json_only(text).input_ids
        assert a == b == c, (text, a, b, c)
        small_rows.append({"text": text, "ids": a})

    fixture = {
        "source": "transformers %s CLIPTokenizer.from_pretrained(clip-tokenizer); see scripts/make_tokenizer_fixtures.py"
                  % __import__("transformers").__version__,
        "bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id, "vocab_size": len(tok),
        "max_length": 77, "prompts": rows, "variants": variant_rows,
        "small_bpe": {"bos": from_files.bos_token_id, "eos": from_files.eos_token_id, "vocab_size": len(from_files),
                      "prompts": small_rows},
    }
    write_json(f"{RES}/tokenizer-fixtures.json", fixture)
    print(f"wrote {RES}/tokenizer-fixtures.json: {len(rows)} prompts, {len(variant_rows)} variants, "
          f"{len(small_rows)} small-BPE prompts")


if __name__ == "__main__":
    main()
