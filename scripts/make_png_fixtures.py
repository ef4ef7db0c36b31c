#!/usr/bin/env python3
"""PNG files written by Pillow in several colour types (with Pillow's adaptive row filters), plus the
RGB bytes Pillow decodes them to (alpha composited over white), for ImageIOTests."""
import json, os
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ImageIOTests", "Resources")
rng = np.random.default_rng(7)
h, w = 13, 17
yy, xx = np.mgrid[0:h, 0:w]
rgb = np.stack([(xx * 15) % 256, (yy * 19) % 256, ((xx + yy) * 7 + rng.integers(0, 40, (h, w))) % 256], -1).astype(np.uint8)
alpha = ((xx * 255) // (w - 1)).astype(np.uint8)
index = {}

def save(name, img, expected):
    path = os.path.join(OUT, name + ".png")
    img.save(path, optimize=True)
    index[name] = {"width": img.width, "height": img.height, "rgb": expected.reshape(-1).tolist()}

def over_white(rgb, a):
    a = a.astype(np.int64)[..., None]
    return ((rgb.astype(np.int64) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)

save("rgb", Image.fromarray(rgb, "RGB"), rgb)
save("rgba", Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1), "RGBA"), over_white(rgb, alpha))
grey = rgb[..., 0]
save("grey", Image.fromarray(grey, "L"), np.repeat(grey[..., None], 3, -1))
pal = Image.fromarray(rgb, "RGB").quantize(16)
save("palette", pal, np.asarray(pal.convert("RGB")))
la = Image.fromarray(np.stack([grey, alpha], -1), "LA")
save("grey_alpha", la, over_white(np.repeat(grey[..., None], 3, -1), alpha))
with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(index, f)
print("wrote", sorted(index))
