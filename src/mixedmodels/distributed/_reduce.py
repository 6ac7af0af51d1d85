"""Sums over partitions: moments, coordinate sums of sparse blocks, the tree reduction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Coordinates", "Moments", "tree_reduce"]

# Partial results combined per task of the reduction tree.
SPLIT_EVERY = 8


@dataclass
class Moments:
    """Count, means and centred cross-products of the columns of a matrix.

    Merged with Chan, Golub and LeVeque's pairwise update, so means and variances
    stay accurate where sums of squares would cancel.

    Attributes
    ----------
    n : int
        Rows.
    mean : ndarray, (q,)
    comoment : ndarray, (q, q)
        ``sum (x - mean)(x - mean)'``.
    """

    n: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of the rows of ``values`` (n, q)."""
        n, q = values.shape
        if n == 0:
            return cls(0, np.zeros(q), np.zeros((q, q)))
        mean = values.mean(axis=0)
        centred = values - mean
        return cls(n, mean, centred.T @ centred)

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of rows."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        comoment = self.comoment + other.comoment + np.outer(delta, delta) * (
            self.n * other.n / n)
        return Moments(n, mean, comoment)

    def gram(self) -> np.ndarray:
        """The uncentred cross-products ``sum x x'``."""
        return self.comoment + self.n * np.outer(self.mean, self.mean)


@dataclass
class Coordinates:
    """A sparse block of ``Z_i' Z_j`` as sums at level pairs.

    Attributes
    ----------
    keys : ndarray of int64, (nb,)
        ``col_level * nrow_levels + row_level``, sorted, unique.
    data : ndarray, (nb, k_i, k_j)
    """

    keys: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, codes_i: np.ndarray, z_i: np.ndarray, l_i: int,
           codes_j: np.ndarray, z_j: np.ndarray) -> Coordinates:
        """The block of one partition (as ``linalg.crossprod`` forms it in memory)."""
        key = codes_j.astype(np.int64) * l_i + codes_i
        uniq, inverse = np.unique(key, return_inverse=True)
        nb = len(uniq)
        ki, kj = z_i.shape[1], z_j.shape[1]
        data = np.empty((nb, ki, kj))
        for a in range(ki):
            for b in range(kj):
                data[:, a, b] = np.bincount(inverse, weights=z_i[:, a] * z_j[:, b],
                                            minlength=nb)
        return cls(uniq, data)

    @classmethod
    def merge_all(cls, parts: Sequence[Coordinates]) -> Coordinates:
        """Sums over the union of the level pairs."""
        nonempty = [p for p in parts if len(p.keys)]
        if not nonempty:
            return parts[0]
        parts = nonempty
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate([p.keys for p in parts])
        uniq, inverse = np.unique(keys, return_inverse=True)
        del keys
        ki, kj = parts[0].data.shape[1:]
        data = np.empty((len(uniq), ki, kj))
        for a in range(ki):
            for b in range(kj):
                values = np.concatenate([p.data[:, a, b] for p in parts])
                data[:, a, b] = np.bincount(inverse, weights=values, minlength=len(uniq))
        return cls(uniq, data)


def tree_reduce(
    parts: Sequence[Any],
    chunk: Callable[..., Any],
    combine: Callable[..., Any],
    *args: Any,
    split_every: int = SPLIT_EVERY,
) -> Any:
    """Apply ``chunk(part, *args)`` to every partition and combine the results with a
    tree of ``combine(*results)`` tasks; return the root's value (computed).

    Parameters
    ----------
    parts : list of dask.delayed.Delayed
        The partitions (``DataFrame.to_delayed()``), in order; ``combine`` receives its
        arguments in partition order.
    chunk, combine : callable
        Module-level functions (they are sent to the workers).
    args
        Extra arguments of ``chunk``, sent once and shared by all tasks.
    split_every : int
        Results combined per task.

    Returns
    -------
    object
        The combined result, on the client.
    """
    import dask

    shared = [dask.delayed(a, traverse=False) for a in args]
    level = [dask.delayed(chunk, pure=True)(part, *shared) for part in parts]
    if not level:
        level = [dask.delayed(chunk, pure=True)(None, *shared)]
    while len(level) > 1:
        level = [
            dask.delayed(combine, pure=True)(*level[i:i + split_every])
            for i in range(0, len(level), split_every)
        ]
    (result,) = dask.compute(level[0])
    return result
