"""small_cholesky / small_inverse: np.linalg's numbers without np.linalg's wrappers."""

import warnings

import numpy as np
import pytest

from mixedmodels.linalg.dense import small_cholesky, small_inverse


def _spd_stack(rng, n, k):
    a = rng.normal(size=(n, k, k))
    return a @ a.transpose(0, 2, 1) + 0.1 * np.eye(k)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_same_numbers_as_numpy(k):
    rng = np.random.default_rng(k)
    faces = _spd_stack(rng, 17, k)
    chol = small_cholesky(faces)
    assert chol.tobytes() == np.linalg.cholesky(faces).tobytes()
    assert small_inverse(chol).tobytes() == np.linalg.inv(chol).tobytes()
    single = faces[3]
    assert small_cholesky(single).tobytes() == np.linalg.cholesky(single).tobytes()


def test_not_positive_definite_raises_without_warning():
    rng = np.random.default_rng(0)
    faces = _spd_stack(rng, 5, 2)
    faces[2] = [[1.0, 2.0], [2.0, 1.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(invalid="ignore"), pytest.raises(np.linalg.LinAlgError):
            small_cholesky(faces)
        with pytest.raises(np.linalg.LinAlgError):
            np.linalg.cholesky(faces)
