"""Small frames built in the tests."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def sleep():
    """A sleepstudy-like frame: 6 subjects (integer ids) x 10 days."""
    rng = np.random.default_rng(42)
    subjects = np.repeat([308, 309, 310, 330, 331, 332], 10)
    days = np.tile(np.arange(10.0), 6)
    reaction = 250 + 10 * days + rng.normal(0, 20, size=60)
    return pd.DataFrame({"Reaction": reaction, "Days": days, "Subject": subjects})


@pytest.fixture
def mixed():
    """Numbers, strings, booleans and a categorical, 24 rows."""
    rng = np.random.default_rng(7)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "sex": np.tile(["M", "F"], n // 2),
            "f": np.tile(["c", "a", "b"], n // 3),
            "flag": np.tile([True, False, False, True], n // 4),
            "size": pd.Categorical(
                np.tile(["small", "large"], n // 2), categories=["small", "large", "huge"]
            ),
            "g": np.repeat(list("pqrstu"), 4),
            "batch": np.repeat(list("ABC"), 8),
            "cask": np.tile(list("ab"), 12),
        }
    )
