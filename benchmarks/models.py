"""The benchmark models: data, formula, criterion, and which other tools can run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import simulate

import mixedmodels as mm


@dataclass(frozen=True)
class Benchmark:
    name: str
    data: Callable[[], pd.DataFrame]
    formula: str
    reml: bool
    lme4: bool = True                # fit with lme4 in the same run when R is present
    repeats: int = 5
    statsmodels: tuple[str, str, str | None] | None = None  # (fixed, group, re_formula)
    reference: str = ""              # published MixedModels.jl time, for orientation


def _bundled(name: str) -> Callable[[], pd.DataFrame]:
    return lambda: mm.datasets.load(name)


BENCHMARKS = [
    Benchmark("sleepstudy", _bundled("sleepstudy"), "Reaction ~ Days + (Days | Subject)", True,
              repeats=21, statsmodels=("Reaction ~ Days", "Subject", "~Days"),
              reference="15 ms"),
    Benchmark("penicillin", _bundled("penicillin"), "diameter ~ 1 + (1 | plate) + (1 | sample)",
              True, repeats=21, reference="12 ms"),
    Benchmark("pastes", _bundled("pastes"), "strength ~ 1 + (1 | batch/cask)", True, repeats=21),
    Benchmark("insteval", _bundled("insteval"),
              "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", False, repeats=3,
              reference="1.23 s"),
    Benchmark("insteval_dept", _bundled("insteval"),
              "y ~ 1 + service * dept + (1 | s) + (1 | d)", False, repeats=3,
              reference="0.68 s"),
    Benchmark("kb07", simulate.kb07_like,
              "rt ~ 1 + spkr * prec * load + (1 + spkr + prec + load | subj)"
              " + (1 + spkr + prec + load | item)", True, repeats=5,
              reference="0.30 s (BOBYQA), 0.058 s (gradients)"),
    Benchmark("d3", simulate.d3_like, "y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 + u | i)",
              False, repeats=1, reference="4.2 s"),
    Benchmark("movielens", simulate.movielens_like, "y ~ 1 + (1 | user) + (1 | movie)", False,
              repeats=1, reference="46.5 s"),
    Benchmark("one_factor_10M", simulate.one_factor_at_scale, "y ~ 1 + x + (1 + x | g)", False,
              lme4=False, repeats=1),
]

BY_NAME = {b.name: b for b in BENCHMARKS}
