"""Sums over partitions: moments, coordinate sums of sparse blocks, the tree reduction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Coordinates", "Moments", "count_pairs", "key_dtype", "sum_block", "tree_reduce"]

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


def key_dtype(nrow_levels: int, ncol_levels: int) -> type:
    """The narrowest integer type of the keys of a block with these level counts."""
    return np.int32 if nrow_levels * ncol_levels < 2**31 else np.int64


@dataclass
class Coordinates:
    """A sparse block of ``Z_i' Z_j`` as sums at level pairs.

    Attributes
    ----------
    keys : ndarray of int32 or int64, (nb,)
        ``col_level * nrow_levels + row_level``, sorted, unique (int32 where every key
        fits: 12 bytes a pair instead of 16).
    data : ndarray, (nb, k_i, k_j)
    nrow_levels, ncol_levels : int
        ``l_i`` and ``l_j``.
    """

    keys: np.ndarray
    data: np.ndarray
    nrow_levels: int
    ncol_levels: int

    @classmethod
    def of(cls, codes_i: np.ndarray, z_i: np.ndarray, l_i: int,
           codes_j: np.ndarray, z_j: np.ndarray, l_j: int) -> Coordinates:
        """The block of one partition (as ``linalg.crossprod`` forms it in memory)."""
        index = key_dtype(l_i, l_j)
        key = codes_j.astype(index) * index(l_i) + codes_i.astype(index)
        uniq, inverse = np.unique(key, return_inverse=True)
        del key
        nb = len(uniq)
        ki, kj = z_i.shape[1], z_j.shape[1]
        data = np.empty((nb, ki, kj))
        for a in range(ki):
            for b in range(kj):
                data[:, a, b] = np.bincount(inverse, weights=z_i[:, a] * z_j[:, b],
                                            minlength=nb)
        return cls(uniq, data, l_i, l_j)

    @property
    def cells(self) -> int:
        """Level pairs of the block, ``l_i l_j``."""
        return self.nrow_levels * self.ncol_levels

    def dense_shape(self) -> tuple[int, int]:
        """Shape of the block as a dense array, ``(l_i k_i, l_j k_j)``."""
        _, ki, kj = self.data.shape
        return self.nrow_levels * ki, self.ncol_levels * kj

    def add_to(self, out: np.ndarray) -> None:
        """Add the sums into the dense block ``out`` (``dense_shape()``, C-ordered)."""
        if not len(self.keys):
            return
        cols, rows = np.divmod(self.keys.astype(np.int64), self.nrow_levels)
        nb, ki, kj = self.data.shape
        if ki == 1 and kj == 1:
            flat = out.reshape(-1)  # a view; the keys are unique, so += adds each once
            rows *= self.ncol_levels
            rows += cols
            del cols
            flat[rows] += self.data[:, 0, 0]
            return
        view = out.reshape(self.nrow_levels, ki, self.ncol_levels, kj)
        view[rows, :, cols, :] += self.data

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
        return cls(uniq, data, parts[0].nrow_levels, parts[0].ncol_levels)


def count_pairs(parts: Sequence[Coordinates]) -> int:
    """Level pairs in the union of the parts' pairs (a mask of ``l_i l_j`` bytes)."""
    met = np.zeros(parts[0].cells, dtype=bool)
    for p in parts:
        met[p.keys] = True
    return int(np.count_nonzero(met))


def sum_block(parts: Sequence[Coordinates | np.ndarray], dense_at: float | None = None,
              ) -> Coordinates | np.ndarray:
    """The sum of partial sums of one off-diagonal block: coordinates or dense.

    The sum is dense (an ``(l_i k_i, l_j k_j)`` array) when a part is dense already;
    when the parts hold at least ``l_i l_j`` pairs in all (their coordinates take more
    memory than the dense array, and merging them several times more); or, with
    ``dense_at``, when the union of their level pairs covers at least that fraction
    of ``l_i l_j`` (the root of the reduction passes the density from which the
    factor stores the block dense). A dense sum is filled part by part: besides the
    parts it needs the dense array and one part's indices, never the merged pairs.

    Parameters
    ----------
    parts : list of Coordinates or ndarray
        Partial sums of the same block (dense arrays C-ordered, ``dense_shape()``).
    dense_at : float, optional
        Fraction of level pairs from which the sum is dense.
    """
    dense = [p for p in parts if isinstance(p, np.ndarray)]
    coords = [p for p in parts if isinstance(p, Coordinates)]
    if not dense:
        cells = coords[0].cells
        total = sum(len(p.keys) for p in coords)
        go_dense = total >= cells or (
            dense_at is not None and total >= dense_at * cells
            and count_pairs(coords) >= dense_at * cells
        )
        if not go_dense:
            return Coordinates.merge_all(coords)
        out = np.zeros(coords[0].dense_shape())
    else:
        # a copy: a task must not change its inputs (a scheduler may run it again)
        out = dense[0].copy()
        for d in dense[1:]:
            out += d
    for p in coords:
        p.add_to(out)
    return out


def tree_reduce(
    parts: Sequence[Any],
    chunk: Callable[..., Any],
    combine: Callable[..., Any],
    *args: Any,
    split_every: int = SPLIT_EVERY,
    root: Callable[..., Any] | None = None,
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
    root : callable, optional
        Combines the last (at most ``split_every``) results instead of ``combine``,
        also when there is one partition: for a sum whose storage is chosen once the
        whole is known.

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
    while len(level) > split_every:
        level = [
            dask.delayed(combine, pure=True)(*level[i:i + split_every])
            for i in range(0, len(level), split_every)
        ]
    if root is not None or len(level) > 1:
        level = [dask.delayed(combine if root is None else root, pure=True)(*level)]
    (result,) = dask.compute(level[0])
    return result
