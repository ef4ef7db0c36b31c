"""Reference values for LinalgTests from numpy/scipy (float64).

Writes Tests/TensorEngineTests/Resources/linalg_reference.json:
  nullSpace: a 10 x 16 matrix of rank 6, numpy's singular values and matrix_rank, and the
             orthogonal projector N Nᵀ onto scipy.linalg.null_space(M) (basis-independent).
  cholesky:  an 8 x 8 SPD matrix A, right-hand side B (8 x 2), numpy.linalg.cholesky(A), solve(A, B).
  general:   an 8 x 8 general matrix and B (8 x 2) with numpy.linalg.solve(A, B).
Usage: python3 scripts/make_linalg_fixture.py
"""
import json
import os

import numpy as np
import scipy.linalg

rng = np.random.default_rng(20240611)


def flat(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


m = rng.uniform(-1, 1, (10, 6)) @ rng.uniform(-1, 1, (6, 16))
null = scipy.linalg.null_space(m)  # columns: orthonormal basis, rcond default
x = rng.uniform(-1, 1, (12, 8))
spd = x.T @ x + np.eye(8)
spd = (spd + spd.T) / 2
b_spd = rng.uniform(-1, 1, (8, 2))
gen = rng.uniform(-1, 1, (8, 8))
b_gen = rng.uniform(-1, 1, (8, 2))

fixture = {
    "nullSpace": {
        "rows": 10, "cols": 16, "values": flat(m),
        "singularValues": flat(np.linalg.svd(m, compute_uv=False)),
        "matrixRank": int(np.linalg.matrix_rank(m)),
        "nullProjector": flat(null @ null.T),
    },
    "cholesky": {
        "n": 8, "a": flat(spd), "b": flat(b_spd),
        "lower": flat(np.linalg.cholesky(spd)), "solution": flat(np.linalg.solve(spd, b_spd)),
    },
    "general": {"n": 8, "a": flat(gen), "b": flat(b_gen), "solution": flat(np.linalg.solve(gen, b_gen))},
}

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorEngineTests", "Resources",
                   "linalg_reference.json")
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(fixture, f)
os.replace(tmp, out)
print(f"wrote {out} ({os.path.getsize(out)} bytes)")
