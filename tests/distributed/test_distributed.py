"""Fits of Dask data and Parquet files on a LocalCluster with processes equal the
in-memory fits (issue 6)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, FormulaError, MixedModelsError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

# Uneven split points (fractions of the rows): 7 partitions, the fourth empty.
SPLITS = [0.0, 0.04, 0.21, 0.21, 0.46, 0.52, 0.83, 1.0]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def write_parts(frame: pd.DataFrame, folder) -> str:
    """Write ``frame`` as 7 uneven Parquet files (one empty); return the glob."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(frame)
    bounds = [round(f * n) for f in SPLITS]
    for i in range(7):
        frame.iloc[bounds[i]:bounds[i + 1]].to_parquet(folder / f"part-{i}.parquet",
                                                       index=False)
    return str(folder / "*.parquet")


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def at_theta(model, theta):
    """Objective, beta, standard errors and variance components of a model at theta."""
    ev = model.evaluate(theta)
    objective = model.objective(theta)
    sigma2 = ev.sigma2(model.reml)
    se = np.sqrt(sigma2 * np.diagonal(ev.vcov_unscaled))
    vc = np.concatenate([(sigma2 * lam @ lam.T).ravel() for lam in model.lambdas(theta)])
    return objective, ev.beta, se, vc


def assert_same_fit(fit, ref) -> None:
    # A is exact: at the same theta every number agrees to rounding.
    got, want = at_theta(fit.model, ref.theta), at_theta(ref.model, ref.theta)
    assert rel(got[0], want[0]) < 1e-11
    for a, b in zip(got[1:], want[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())
    # The two fits.
    assert rel(fit.objective, ref.objective) < 1e-10
    assert fit.nobs == ref.nobs
    assert fit.n_dropped_na == ref.n_dropped_na
    assert list(fit.fixef.index) == list(ref.fixef.index)
    assert float(np.max(np.abs(fit.fixef - ref.fixef))) < 1e-8 * float(np.max(np.abs(ref.fixef)))
    vc, vc_ref = fit.varcorr.to_frame(), ref.varcorr.to_frame()
    assert list(vc["grp"]) == list(vc_ref["grp"])
    # The optimum: the convergence check's Newton steps with the analytic gradient
    # place theta to about 1e-9 although the objective's rounding noise (~1e-11 on
    # sleepstudy) hides it from BOBYQA, so independent fits agree to 1e-8.
    assert rel(fit.std_errors, ref.std_errors) < 1e-8
    assert rel(vc["vcov"], vc_ref["vcov"]) < 1e-8
    assert rel(vc["sdcor"], vc_ref["sdcor"]) < 1e-8
    assert fit.ngroups == ref.ngroups
    for name, table in ref.ranef().items():
        got_re = fit.ranef()[name]
        assert list(got_re.index) == list(table.index)
        np.testing.assert_allclose(got_re.to_numpy(), table.to_numpy(), rtol=1e-7,
                                   atol=1e-8 * np.abs(table.to_numpy()).max())


@pytest.fixture(scope="module")
def sleep_parts(tmp_path_factory):
    data = mm.datasets.load("sleepstudy").sort_values(["Subject", "Days"], kind="stable")
    data = data.reset_index(drop=True)
    return data, write_parts(data, tmp_path_factory.mktemp("sleep"))


def test_sleepstudy_slope_model_from_parquet(client, sleep_parts):
    data, path = sleep_parts
    formula = "Reaction ~ Days + (Days | Subject)"
    fit = mm.lmer(formula, path)
    ref = mm.lmer(formula, data)
    assert isinstance(fit, mm.LmerFit)
    assert fit.model.data.npartitions == 7
    assert_same_fit(fit, ref)
    # The acceptance figures of issue 6 on this model.
    assert rel(fit.fixef, ref.fixef) < 1e-8
    assert rel(fit.std_errors, ref.std_errors) < 1e-8
    fitted = fit.fitted()
    assert isinstance(fitted, dd.Series)
    np.testing.assert_allclose(fitted.compute().to_numpy(), ref.fitted().to_numpy(),
                               rtol=1e-8)
    resid = fit.residuals(kind="pearson", scaled=True).compute().to_numpy()
    np.testing.assert_allclose(resid, ref.residuals(kind="pearson", scaled=True).to_numpy(),
                               rtol=1e-6, atol=1e-8)
    pop = fit.predict(re_form="~0").compute().to_numpy()
    np.testing.assert_allclose(pop, ref.predict(re_form="~0").to_numpy(), rtol=1e-8)
    text = str(fit)
    assert "Scaled residuals" in text and "Subject" in text
    # The summary's residual quantiles are exact (two passes over the partitions).
    q = fit.scaled_residual_quantiles()
    np.testing.assert_allclose(q, ref.scaled_residual_quantiles(), rtol=1e-6)


def test_insteval_crossed_model_from_parquet(client, tmp_path):
    data = mm.datasets.load("insteval")
    data = data.sort_values("s", kind="stable").reset_index(drop=True)
    path = write_parts(data, tmp_path / "insteval")
    formula = "y ~ 1 + service + (1|s) + (1|d) + (1|dept)"
    fit = mm.lmer(formula, path, reml=False)
    ref = mm.lmer(formula, data, reml=False)
    assert fit.model.data.npartitions == 7
    assert_same_fit(fit, ref)
    # Integer data: every partial sum is exact, so A and the whole fit are identical.
    vc, vc_ref = fit.varcorr.to_frame(), ref.varcorr.to_frame()
    assert rel(fit.fixef, ref.fixef) < 1e-8
    assert rel(fit.std_errors, ref.std_errors) < 1e-8
    assert rel(vc["vcov"], vc_ref["vcov"]) < 1e-8


@pytest.mark.parametrize("formula", [
    "y ~ x + (1 | g1) + (1 | g2)",
    "y ~ x + (1 | g1) + (x | g2)",
])
def test_dense_off_block_is_summed_dense(client, tmp_path, formula):
    # 2000 rows over 30 x 20 level pairs: nearly all met, so the block g2 x g1 is
    # summed as a dense array at the root of the reduction and taken as it is by L.
    rng = np.random.default_rng(20261122)
    n = 2000
    g1, g2 = rng.integers(0, 30, n), rng.integers(0, 20, n)
    x = rng.normal(size=n)
    y = (1.0 + 0.5 * x + rng.normal(0, 0.8, 30)[g1] + rng.normal(0, 0.5, 20)[g2]
         + rng.normal(0, 0.3, 20)[g2] * x + rng.normal(size=n))
    data = pd.DataFrame({"y": y, "x": x, "w": rng.uniform(0.5, 2.0, n),
                         "g1": [f"a{v:02d}" for v in g1], "g2": [f"b{v:02d}" for v in g2]})
    path = write_parts(data, tmp_path / "dense")
    fit = mm.lmer(formula, path, weights="w")
    ref = mm.lmer(formula, data, weights="w")
    assert isinstance(fit.model.A.off[(1, 0)], np.ndarray)
    assert not isinstance(ref.model.A.off[(1, 0)], np.ndarray)
    assert "L[1,0]: dense" in fit.model._chol.describe()
    assert_same_fit(fit, ref)


def test_missing_values_weights_and_offset(client, tmp_path):
    rng = np.random.default_rng(6)
    data = mm.datasets.load("sleepstudy").reset_index(drop=True)
    data["w"] = rng.uniform(0.5, 2.0, len(data))
    data["off"] = rng.normal(0.0, 5.0, len(data))
    data["grp"] = np.where(np.arange(len(data)) % 3 == 0, "a", "b")
    data.loc[len(data) - 2, "grp"] = "only-here"  # a fixed-effect level in one partition
    data.loc[[3, 50, 51], "Reaction"] = np.nan
    data.loc[[10], "w"] = np.nan
    data.loc[[70], "off"] = np.nan
    data.loc[[100], "Days"] = np.nan
    path = write_parts(data, tmp_path / "na")
    formula = "Reaction ~ Days + grp + (1 | Subject)"
    fit = mm.lmer(formula, path, weights="w", offset="off")
    ref = mm.lmer(formula, data, weights="w", offset="off")
    assert ref.n_dropped_na == 6
    assert_same_fit(fit, ref)
    np.testing.assert_allclose(fit.residuals().compute().to_numpy(),
                               ref.residuals().to_numpy(), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(fit.fitted().compute().to_numpy(), ref.fitted().to_numpy(),
                               rtol=1e-7)


def test_transforms_and_second_missing_value_pass(client, tmp_path):
    data = mm.datasets.load("sleepstudy").reset_index(drop=True)
    data["x"] = np.linspace(-0.3, 5.0, len(data))  # log(x) is NaN for some rows
    data["flag"] = data.index % 4 == 0
    path = write_parts(data, tmp_path / "tr")
    formula = "log(Reaction) ~ scale(Days) + log(x) + flag + (1 | Subject)"
    fit = mm.lmer(formula, path)
    ref = mm.lmer(formula, data)
    assert ref.n_dropped_na > 0
    assert_same_fit(fit, ref)


def test_dask_frame_with_empty_partitions_and_interactions(client):
    data = mm.datasets.load("sleepstudy").reset_index(drop=True)
    data["half"] = np.where(data["Days"] < 5, "early", "late")
    pieces = [data.iloc[:0], data.iloc[:40], data.iloc[40:41], data.iloc[41:41],
              data.iloc[41:180]]
    frame = dd.from_map(lambda i: pieces[i], range(len(pieces)), meta=data.iloc[:0],
                        enforce_metadata=False)
    formula = "Reaction ~ Days + (1 | Subject/half)"
    fit = mm.lmer(formula, frame)
    ref = mm.lmer(formula, data)
    assert_same_fit(fit, ref)
    sims = fit.simulate(nsim=2, seed=1)
    assert isinstance(sims, dd.DataFrame)
    first = sims.compute()
    assert first.shape == (180, 2)
    pd.testing.assert_frame_equal(first, sims.compute())  # the same on recomputation


def test_predict_on_new_data(client, sleep_parts):
    data, path = sleep_parts
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", path)
    ref = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    new = data.iloc[::7].copy()
    expected = ref.predict(new).to_numpy()
    np.testing.assert_allclose(fit.predict(new).to_numpy(), expected, rtol=1e-8)
    lazy = fit.predict(dd.from_pandas(new, npartitions=3))
    np.testing.assert_allclose(lazy.compute().to_numpy(), expected, rtol=1e-8)


def test_bad_input_gives_library_errors(client, sleep_parts):
    _, path = sleep_parts
    with pytest.raises(FormulaError, match="not found"):
        mm.lmer("Reaction ~ Nope + (1 | Subject)", path)
    with pytest.raises(DataError, match="name of a column"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", path, weights=np.ones(180))
    with pytest.raises(DataError, match="not found"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", path, offset="nope")
    with pytest.raises(DataError, match="Parquet"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", "/nonexistent/x.parquet")
    with pytest.raises(MixedModelsError, match="poly"):
        mm.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", path)


def test_methods_that_need_rows_say_so(client, sleep_parts):
    _, path = sleep_parts
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", path)
    for call in (lambda: fit.coef_table(ddf="kenward-roger"), lambda: fit.save("x.mmfit"),
                 lambda: fit.refit(np.zeros(180)), lambda: fit.bootstrap(5),
                 lambda: fit.confint(method="profile")):
        with pytest.raises(MixedModelsError, match="rows in memory"):
            call()
    assert fit.confint(method="wald").shape[0] >= 2
    assert fit.coef_table().shape[0] == 2
