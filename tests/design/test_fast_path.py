"""The design's fast path (design/_fast.py) gives exactly what formulaic gives.

Every design here is built twice, once as usual and once with the fast path switched
off (everything through formulaic), and compared field by field: matrices bit for
bit, names, level order, dropped columns, rows, the formulaic ModelSpec (built lazily
on the fast path) and replay on new data.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design import _fast, build_design, fixed_matrix, reterm_matrix
from mixedmodels.design._coding import LazyModelSpec, code_terms, formulaic_code_terms
from mixedmodels.design._prepare import prepare
from mixedmodels.formula import parse_rhs

BUNDLED = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("sleepstudy", "Reaction ~ 0 + Days + (1 | Subject) + (0 + Days | Subject)"),
    ("sleepstudy", "Reaction ~ Days + (Days || Subject)"),
    ("dyestuff", "Yield ~ 1 + (1 | Batch)"),
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("pastes", "strength ~ 1 + (1 | batch/cask)"),
    ("pastes", "strength ~ batch + (1 | sample)"),
    ("machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"),
    ("machines", "score ~ 0 + Machine + (Machine | Worker)"),
    ("machines", "score ~ 0 + Machine + (0 + Machine | Worker)"),
    ("exam", "normexam ~ standLRT + sex + schgend + (standLRT | school)"),
    ("exam", "normexam ~ standLRT * sex + vr + (1 | school)"),
    ("exam", "normexam ~ standLRT:sex + type + (1 | school)"),
    ("exam", "normexam ~ sex * schgend + intake + (1 | school)"),
    ("exam", "normexam ~ sex:schgend + (1 | school)"),
    ("exam", "normexam ~ 0 + sex:intake + (1 | school)"),
    ("exam", "normexam ~ standLRT * schavg * sex + (standLRT | school)"),
    ("exam", "normexam ~ standLRT:schavg:vr + (0 + standLRT | school)"),
    ("exam", "normexam ~ (standLRT + sex + vr)^2 + (1 | school) + (1 | student)"),
    ("exam", "normexam ~ sex/standLRT + (1 | school:sex)"),
    ("insteval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)"),
    ("insteval", "y ~ service * dept + studage + (1 | s) + (1 | d)"),
]

MIXED = [
    "y ~ x + (1 | g)",
    "y ~ x + sex + f + (1 | g)",
    "y ~ f * x + (x | g)",
    "y ~ 0 + f + (1 | g)",
    "y ~ 0 + f:sex + x + (1 | g)",
    "y ~ flag + (1 | g)",
    "y ~ flag * sex + (0 + flag | g)",
    "y ~ size + (1 | g)",
    "y ~ size:x + (1 | batch/cask)",
    "y ~ x + (1 | batch:cask) + (0 + f | g)",
    "y ~ f*sex*flag + (1 | g)",
    "y ~ i + (i | g)",
    "y ~ i + (1 | i2)",
    "y ~ -1 + x + (1 | g)",
    "y ~ x + x:f + (1 | g)",
    "y ~ big:f:x + (1 | g)",
    "y ~ ci + cf:x + (1 | g)",
    "y ~ f32 + nullable + (f32 | g)",
    "y ~ 0 + ci:f + (1 | ci)",
]


@pytest.fixture
def mixed_frame():
    rng = np.random.default_rng(3)
    n = 48
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "big": np.where(rng.random(n) < 0.5, -1.0, 1.0) * 1e200,
            "huge": np.full(n, 1e200),
            "i": np.tile(np.arange(6), n // 6),  # integers: numeric
            "i2": np.repeat(np.arange(8), n // 8),  # integer grouping
            "sex": np.tile(["M", "F"], n // 2),
            "f": np.tile(["c", "a", "b"], n // 3),
            "flag": np.tile([True, False, False, True], n // 4),
            "size": pd.Categorical(
                np.tile(["small", "large"], n // 2), categories=["small", "large", "huge"]
            ),
            "g": np.repeat(list("pqrstuvw"), n // 8),
            "ci": pd.Categorical(np.tile([3, 1, 2], n // 3)),  # integer levels
            "cf": pd.Categorical(np.tile([0.5, 1.0], n // 2)),  # float levels
            "f32": rng.normal(size=n).astype(np.float32),
            "nullable": pd.array(np.tile([1, 2, 3, 4], n // 4), dtype="Int64"),
            "batch": np.repeat(list("ABC"), n // 3),
            "cask": np.tile(list("ab"), n // 2),
        }
    )


def _formulaic_only(monkeypatch):
    monkeypatch.setattr(_fast, "fast_code_terms", lambda *args, **kwargs: None)


def _same_array(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit, signed zeros included


def _same_spec(fast, slow, newdata=None):
    assert fast.columns == slow.columns
    assert fast.names == slow.names
    assert fast.terms == slow.terms
    assert fast.categories == slow.categories
    assert {k: [type(v) for v in c] for k, c in fast.categories.items()} == {
        k: [type(v) for v in c] for k, c in slow.categories.items()
    }
    assert fast.allow_python == slow.allow_python
    a, b = fast.model_spec, slow.model_spec
    assert [(str(s.term), tuple(s.columns)) for s in a.structure] == [
        (str(s.term), tuple(s.columns)) for s in b.structure
    ]
    assert a.column_names == b.column_names
    assert a.required_variables == b.required_variables
    assert set(a.encoder_state) == set(b.encoder_state)
    for key, (kind, state) in b.encoder_state.items():
        fkind, fstate = a.encoder_state[key]
        assert fkind == kind
        assert fstate.get("categories") == state.get("categories")


def _designs(monkeypatch, formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = build_design(formula, data, **kwargs)
        with monkeypatch.context() as m:
            _formulaic_only(m)
            slow = build_design(formula, data, **kwargs)
    return fast, slow


def _compare(fast, slow, data):
    _same_array(fast.y, slow.y)
    _same_array(fast.X, slow.X)
    assert fast.xnames == slow.xnames
    assert fast.dropped == slow.dropped
    assert fast.n_dropped_na == slow.n_dropped_na
    assert fast.row_index.equals(slow.row_index)
    assert fast.formula == slow.formula
    _same_spec(fast.fixed_spec, slow.fixed_spec)
    assert len(fast.reterms) == len(slow.reterms)
    for a, b in zip(fast.reterms, slow.reterms, strict=True):
        assert (a.name, a.cnames, a.levels, a.group, a.lhs) == (
            b.name, b.cnames, b.levels, b.group, b.lhs
        )
        _same_array(a.codes, b.codes)
        _same_array(a.z, b.z)
        _same_spec(a.lhs_spec, b.lhs_spec)
    # replay on new rows (a shuffled subset of the data) through both specs
    rows = data.loc[fast.row_index].sample(frac=0.5, random_state=1)
    _same_array(fixed_matrix(fast, rows), fixed_matrix(slow, rows))
    for a, b in zip(fast.reterms, slow.reterms, strict=True):
        ca, za = reterm_matrix(a, rows)
        cb, zb = reterm_matrix(b, rows)
        _same_array(ca, cb)
        _same_array(za, zb)


@pytest.mark.parametrize(("name", "formula"), BUNDLED)
def test_bundled_designs_identical(monkeypatch, name, formula):
    data = mm.datasets.load(name)
    fast, slow = _designs(monkeypatch, formula, data)
    # InstEval's studage is an ordered factor: formulaic codes those
    assert isinstance(fast.fixed_spec.source, LazyModelSpec) == ("studage" not in formula)
    assert all(isinstance(t.lhs_spec.source, LazyModelSpec) for t in fast.reterms)
    _compare(fast, slow, data)


@pytest.mark.parametrize("formula", MIXED)
def test_mixed_types_identical(monkeypatch, mixed_frame, formula):
    fast, slow = _designs(monkeypatch, formula, mixed_frame)
    assert isinstance(fast.fixed_spec.source, LazyModelSpec)
    _compare(fast, slow, mixed_frame)


def test_missing_values_and_weights_identical(monkeypatch, mixed_frame):
    data = mixed_frame.copy()
    data.loc[[1, 5, 9], "x"] = np.nan
    data.loc[[2, 30], "f"] = None
    data["w"] = np.linspace(0.5, 2.0, len(data))
    data.loc[[7], "w"] = np.nan
    data.index = pd.Index([f"r{i}" for i in range(len(data))])
    fast, slow = _designs(monkeypatch, "y ~ x * f + (1 | g)", data, weights="w")
    assert fast.n_dropped_na == 6
    _compare(fast, slow, data)
    _same_array(fast.weights, slow.weights)


def test_rank_deficient_identical(monkeypatch, mixed_frame):
    data = mixed_frame.assign(x2=2.0 * mixed_frame["x"], f2=mixed_frame["f"])
    fast, slow = _designs(monkeypatch, "y ~ x + x2 + f + f2 + (1 | g)", data)
    assert fast.dropped == ("x2", "f2b", "f2c")
    _compare(fast, slow, data)


def test_lazy_spec_is_built_once_and_shared_by_subsets(mixed_frame):
    prepared = prepare(mixed_frame, ["x", "f"])
    _, spec = code_terms(parse_rhs("1 + x + f"), prepared)
    assert isinstance(spec.source, LazyModelSpec)
    sub = spec.subset(np.array([True, False, True, True]))
    assert sub.model_spec is spec.model_spec


@pytest.mark.parametrize(
    "rhs",
    [
        "1 + log(x)",
        "1 + I(x^2)",
        "1 + C(f)",
        "1 + scale(x)",
        "1 + poly(x, 2)",
        "1 + x + log(x):f",
    ],
)
def test_non_simple_terms_use_formulaic(mixed_frame, rhs):
    mixed_frame = mixed_frame.assign(x=mixed_frame["x"].abs() + 1)
    terms = parse_rhs(rhs)
    prepared = prepare(mixed_frame, terms.variables())
    assert _fast.fast_code_terms(terms, prepared) is None
    X, spec = code_terms(terms, prepared)
    slow_X, slow = formulaic_code_terms(terms, prepared)
    _same_array(X, slow_X)
    assert not isinstance(spec.source, LazyModelSpec)


def test_ordered_factors_and_odd_names_use_formulaic(mixed_frame):
    data = mixed_frame.assign(
        o=pd.Categorical(mixed_frame["f"], categories=["c", "b", "a"], ordered=True)
    )
    data["my var"] = data["x"]
    for rhs in ["1 + o", "1 + `my var`"]:
        terms = parse_rhs(rhs)
        assert _fast.fast_code_terms(terms, prepare(data, terms.variables())) is None


def test_fit_identical_with_and_without_fast_path(monkeypatch):
    data = mm.datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    fast = mm.lmer(formula, data)
    with monkeypatch.context() as m:
        _formulaic_only(m)
        slow = mm.lmer(formula, data)
    _same_array(fast.theta, slow.theta)
    assert fast.objective == slow.objective
    _same_array(fast.beta, slow.beta)
    assert str(fast.summary()) == str(slow.summary())
    new = data.iloc[::7]
    _same_array(fast.predict(new).to_numpy(), slow.predict(new).to_numpy())


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ x + one + (1 | g)", "contrasts can be applied only to factors with 2 or more"),
        ("y ~ big:huge + (1 | g)", "fixed-effects column 'big:huge' has infinite values"),
        ("y ~ x + (0 + big:huge | g)", "has infinite values"),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # both paths warn
def test_errors_identical(monkeypatch, mixed_frame, formula, message):
    data = mixed_frame.assign(one=["a"] * len(mixed_frame))
    messages = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                _formulaic_only(m)
            with pytest.raises(mm.DataError) as err:
                build_design(formula, data)
            messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert message in messages[0]


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(pd.Categorical(list("bab"), categories=list("abc"))),  # unused level
        pd.Series(pd.Categorical(["b", None, "a"], categories=list("ab"))),  # missing
        pd.Series(pd.Categorical(list("bab"), categories=list("ba"), ordered=True)),
        pd.Series(pd.Categorical(list("bab"), categories=list("ab"))),  # R's form already
        pd.Series(pd.Categorical([], categories=list("ab"))),
    ],
)
def test_to_factor_of_categoricals(series):
    from mixedmodels.design._levels import to_factor

    expected = pd.Categorical(series).remove_unused_categories()
    got = to_factor(series)
    assert got.dtype == expected.dtype
    assert list(got.categories) == list(expected.categories)
    assert np.array_equal(np.asarray(got.codes), np.asarray(expected.codes))


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.0, np.nan, 3.0]),
        pd.Series([1, 2, 3]),
        pd.Series([True, False, True]),
        pd.Series(pd.Categorical(["a", None, "b"])),
        pd.Series(["a", None, "b"], dtype=object),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series(pd.to_datetime(["2020-01-01", None, "2020-01-03"])),
    ],
)
def test_isna_matches_pandas(series):
    from mixedmodels.design._frame import isna

    assert np.array_equal(isna(series), series.isna().to_numpy())


def test_allow_python_identical(monkeypatch, mixed_frame):
    fast, slow = _designs(monkeypatch, "y ~ x * f + (x | g)", mixed_frame, allow_python=True)
    assert fast.fixed_spec.allow_python and isinstance(fast.fixed_spec.source, LazyModelSpec)
    _compare(fast, slow, mixed_frame)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ 1 + Days + (1 + Days | Subject)"])
def test_a_random_term_with_the_fixed_parts_left_side_gets_a_copy_of_x(formula):
    # the coding is shared (design/_build._evaluate), the matrix is not
    design = build_design(formula, mm.datasets.load("sleepstudy"))
    z = design.reterms[0].z
    np.testing.assert_array_equal(z, design.X)
    assert not np.shares_memory(z, design.X)
    assert design.reterms[0].cnames == tuple(design.xnames)


@pytest.mark.parametrize("formula", MIXED)
def test_designs_identical_from_columns_as_series(monkeypatch, mixed_frame, formula):
    # build_design reads numeric and categorical columns as the frame's arrays
    # (_frame.column_values); the design is the one the Series give
    from mixedmodels.design import _build

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = mixed_frame.copy()
        frame.loc[[2, 7], "x"] = np.nan  # rows dropped for a missing value
        frame.loc[5, "size"] = np.nan
        arrays = build_design(formula, frame)
        with monkeypatch.context() as m:
            m.setattr(_build, "column_values", lambda data, name: data[name])
            series = build_design(formula, frame)
    _compare(arrays, series, frame)


def test_column_values_kinds():
    from mixedmodels.design._frame import column_values

    frame = pd.DataFrame({
        "f": [1.0, 2.0], "i": np.array([1, 2], dtype=np.int32), "u": np.array([1, 2], np.uint8),
        "c": pd.Categorical(["a", "b"]), "b": [True, False], "s": ["a", "b"],
        "n": pd.array([1, None], dtype="Int64"),
    })
    for name in "fiu":
        values = column_values(frame, name)
        assert isinstance(values, np.ndarray) and values.dtype == frame[name].dtype
        assert np.array_equal(values, frame[name].to_numpy())
    assert isinstance(column_values(frame, "c"), pd.Categorical)
    for name in "bsn":  # booleans, strings and nullable integers stay Series
        assert isinstance(column_values(frame, name), pd.Series)
    duplicated = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    assert isinstance(column_values(duplicated, "a"), pd.DataFrame)  # what frame[name] is


@pytest.mark.parametrize(
    "values",
    [np.array([1.0, np.nan]), np.array([1, 2]), pd.Categorical(["a", None])],
)
def test_isna_of_column_arrays(values):
    from mixedmodels.design._frame import isna

    assert np.array_equal(isna(values), pd.isna(values))


def test_variables_are_remembered_and_returned_as_new_lists():
    parsed = mm.formula.parse_formula("y ~ x + (x | g)")
    first = parsed.variables()
    first.append("extra")
    assert parsed.variables() == ["y", "x", "g"]
    assert parsed.variables() is not parsed.variables()
