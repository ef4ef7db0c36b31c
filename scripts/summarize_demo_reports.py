#!/usr/bin/env python3
"""One Markdown table row per `sepme demo` output folder: the erased state's accuracies and
specificity (regular prompts' accuracy and SSIM against the original model), and each concept's
training (iterations, stop reason, images) from its shift file's metadata.
Usage: scripts/summarize_demo_reports.py DEMO_DIR [DEMO_DIR ...]"""
import json
import struct
import sys
from pathlib import Path


def shift_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["sepme"])


def row(folder):
    folder = Path(folder)
    report = json.loads((folder / "report.json").read_text())
    erased = next(s for s in report["states"] if s["name"] == "erased")
    by_group = {}
    for c in erased["concepts"]:
        by_group.setdefault(c["group"], []).append(c)
    shifts = sorted((folder / "shifts").glob("*.sepme.safetensors"))
    training = []
    images = None
    for p in shifts:
        m = shift_metadata(p)
        t = m["training"]
        images = t["training_images"]
        training.append(f'{m["concepts"][0]} {t["iterations"]} ({t["stop_reason"].replace("_", " ")})')
    pct = lambda v: f"{100 * v:.1f} %"
    erased_acc = ", ".join(f'{c["prompt"]} {pct(c["accuracy"])}' for c in by_group.get("erased", []) + by_group.get("restored", []))
    regular = by_group.get("regular", [])
    reg_acc = sum(c["accuracy"] for c in regular) / max(len(regular), 1)
    ssims = [c["ssim"] for c in regular]
    protected = all(c["identical_8bit"] for c in by_group.get("protected", []))
    seconds = (folder / "seconds").read_text().strip() if (folder / "seconds").exists() else "-"
    return (
        f"| {images} | {folder.name} | {erased_acc} | {pct(reg_acc)} | {sum(ssims) / max(len(ssims), 1):.3f} (min {min(ssims):.3f}) "
        f"| {'yes' if protected else 'no'} | {'; '.join(training)} | {seconds} |"
    )


print("| images | run | erased accuracy (erased state) | regular accuracy | regular SSIM mean (min) | protected identical | iterations (stop) | seconds |")
print("|---|---|---|---|---|---|---|---|")
for d in sys.argv[1:]:
    if (Path(d) / "report.json").exists():
        print(row(d))
