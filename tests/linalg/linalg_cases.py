"""Designs shared by the tests of the analytic derivatives (blocked and dense factors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import mixedmodels as mm


def crossed_frame(seed: int = 3, n: int = 400,
                  levels: tuple[int, int, int] = (25, 9, 4)) -> pd.DataFrame:
    """Three crossed factors g, h, i, predictors x and u, weights w and a response y."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "g": rng.integers(0, levels[0], n).astype(str),
        "h": rng.integers(0, levels[1], n).astype(str),
        "i": rng.integers(0, levels[2], n).astype(str),
        "x": rng.normal(size=n),
        "u": rng.normal(size=n),
        "w": rng.uniform(0.5, 2.0, n),
    })
    frame["y"] = frame["x"] + rng.normal(size=n) + frame["g"].astype(int) * 0.05
    return frame


# (dataset, formula, keyword arguments): every storage kind of the factor, weights, offset
CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", {}),
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    ("pastes", "strength ~ 1 + (1 | batch/cask)", {}),
    ("crossed", "y ~ x + (1 + u | g) + (1 + u | h) + (1 | i)", {}),
    ("crossed", "y ~ x + (1 + u | g) + (1 | h)", {"weights": "w"}),
    ("crossed", "y ~ x + (1 | g) + (0 + u | h)", {"offset": "x"}),
]


def case_data(name: str, crossed: pd.DataFrame) -> pd.DataFrame:
    """A bundled dataset, or ``crossed`` for the name "crossed"."""
    return crossed if name == "crossed" else mm.datasets.load(name)
