"""Seeded simulated datasets shaped like the published MixedModels.jl benchmarks.

Each generator returns a pandas DataFrame; the same seed gives the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _factor(codes: np.ndarray, prefix: str) -> pd.Categorical:
    width = len(str(int(codes.max()) + 1))
    labels = np.array([f"{prefix}{i:0{width}d}" for i in range(int(codes.max()) + 1)])
    return pd.Categorical.from_codes(codes, categories=labels)


def kb07_like(seed: int = 1) -> pd.DataFrame:
    """1789 observations, 56 subjects x 32 items, three two-level within factors."""
    rng = np.random.default_rng(seed)
    subj, item = np.meshgrid(np.arange(56), np.arange(32), indexing="ij")
    subj, item = subj.ravel(), item.ravel()
    keep = np.sort(rng.choice(len(subj), 1789, replace=False))
    subj, item = subj[keep], item[keep]
    n = len(subj)
    # within-subject and within-item contrasts coded -1/+1 (balanced by item/subject)
    spkr = np.where((item + subj) % 2 == 0, -1.0, 1.0)
    prec = np.where((item // 2 + subj) % 2 == 0, -1.0, 1.0)
    load = np.where((item // 4 + subj) % 2 == 0, -1.0, 1.0)
    X = np.column_stack([np.ones(n), spkr, prec, load])
    beta = np.array([2180.0, 67.0, -333.0, 78.0])
    cov_s = np.diag([300.0, 50.0, 60.0, 40.0]) ** 2
    cov_i = np.diag([360.0, 40.0, 250.0, 30.0]) ** 2
    bs = rng.multivariate_normal(np.zeros(4), cov_s, 56)
    bi = rng.multivariate_normal(np.zeros(4), cov_i, 32)
    y = X @ beta + np.einsum("nk,nk->n", X, bs[subj]) + np.einsum("nk,nk->n", X, bi[item])
    y += rng.normal(0, 670.0, n)
    return pd.DataFrame({"rt": y, "spkr": spkr, "prec": prec, "load": load,
                         "subj": _factor(subj, "S"), "item": _factor(item, "I")})


def d3_like(seed: int = 2, n: int = 130_418) -> pd.DataFrame:
    """130,418 observations, three crossed factors (4000+, 400+, 40+ levels), slopes in u."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 4100, n)
    h = rng.integers(0, 420, n)
    i = rng.integers(0, 42, n)
    g[:4100] = np.arange(4100)
    u = rng.normal(size=n)
    bg = rng.normal(size=(4100, 2)) * [0.5, 0.2]
    bh = rng.normal(size=(420, 2)) * [0.8, 0.3]
    bi = rng.normal(size=(42, 2)) * [1.0, 0.4]
    y = 1.0 + 0.5 * u
    for codes, b in ((g, bg), (h, bh), (i, bi)):
        y = y + b[codes, 0] + b[codes, 1] * u
    y += rng.normal(0, 1.0, n)
    return pd.DataFrame({"y": y, "u": u, "g": _factor(g, "g"), "h": _factor(h, "h"),
                         "i": _factor(i, "i")})


def movielens_like(seed: int = 3, n: int = 1_000_209) -> pd.DataFrame:
    """1,000,209 ratings of 3,706 movies by 6,040 users, with skewed activity."""
    rng = np.random.default_rng(seed)
    users, movies = 6040, 3706
    user_weight = rng.lognormal(0.0, 1.0, users)
    movie_weight = rng.lognormal(0.0, 1.2, movies)
    user = rng.choice(users, n, p=user_weight / user_weight.sum())
    movie = rng.choice(movies, n, p=movie_weight / movie_weight.sum())
    user[:users] = np.arange(users)
    movie[:movies] = np.arange(movies)
    bu = rng.normal(0, 0.4, users)
    bm = rng.normal(0, 0.5, movies)
    y = np.clip(np.round(3.6 + bu[user] + bm[movie] + rng.normal(0, 0.9, n)), 1, 5)
    return pd.DataFrame({"y": y, "user": _factor(user, "u"), "movie": _factor(movie, "m")})


def one_factor_at_scale(seed: int = 4, n: int = 10_000_000, groups: int = 1_000_000):
    """10,000,000 rows in 1,000,000 groups, a random intercept and slope in x."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    g[:groups] = np.arange(groups)
    x = rng.normal(size=n)
    b = rng.normal(size=(groups, 2)) * [1.0, 0.3]
    y = 2.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(0, 1.0, n)
    # integer codes: a grouping column is a factor whatever its dtype
    return pd.DataFrame({"y": y, "x": x, "g": g})
