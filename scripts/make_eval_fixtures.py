#!/usr/bin/env python3
"""Reference values for sepme's evaluation metrics (Tests/ErasureEvaluationTests/Resources/metrics.json).

SSIM: scikit-image's structural_similarity with Wang et al.'s settings (Gaussian window sigma 1.5,
no sample-covariance correction, data range 255, per channel). Fréchet distance: the FID formula with
scipy.linalg.sqrtm, as pytorch-fid computes it. Run: pip install numpy scipy scikit-image; python3 this.
"""
import json
import os

import numpy as np
from scipy import linalg
from skimage.metrics import structural_similarity

rng = np.random.default_rng(1234)
out_path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ErasureEvaluationTests", "Resources", "metrics.json")


def image():
    # A smooth picture with an edge and texture, 32x32x3, uint8.
    y, x = np.mgrid[0:32, 0:32]
    base = 128 + 60 * np.sin(x / 4.0)[..., None] * np.array([1.0, 0.5, -0.7]) + 40 * (y > 16)[..., None]
    return np.clip(base + rng.normal(0, 12, (32, 32, 3)), 0, 255).round().astype(np.uint8)


a = image()
cases = []
for b in [a.copy(),
          np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8),
          image(),
          np.clip(255 - a.astype(int), 0, 255).astype(np.uint8),
          rng.integers(0, 256, a.shape).astype(np.uint8)]:
    s = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=255, channel_axis=-1)
    mad = float(np.abs(a.astype(int) - b.astype(int)).mean() / 255)
    cases.append({"a": a.reshape(-1).tolist(), "b": b.reshape(-1).tolist(), "ssim": float(s), "mean_abs_diff": mad})


def frechet(f1, f2):
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


f1 = rng.normal(0, 1, (40, 6))
f2 = rng.normal(0.3, 1.5, (50, 6)) @ rng.normal(0, 1, (6, 6))
f3 = rng.normal(0, 1, (8, 12))  # fewer samples than features: singular covariances
f4 = rng.normal(0.5, 1, (8, 12))
json.dump({"ssim_cases": cases,
           "frechet_cases": [{"a": f1.tolist(), "b": f2.tolist(), "distance": frechet(f1, f2)},
                             {"a": f3.tolist(), "b": f4.tolist(), "distance": frechet(f3, f4)},
                             {"a": f1.tolist(), "b": f1.tolist(), "distance": 0.0}]},
          open(out_path, "w"))
print("wrote", out_path)
