"""Inference for fitted linear mixed models: t and F tests with Satterthwaite's or
Kenward-Roger's degrees of freedom, ANOVA tables of one model, R2 and ICC."""

from mixedmodels.inference.anova import anova_table
from mixedmodels.inference.coef_table import coef_table
from mixedmodels.inference.contest import FTest, TTest, f_test, t_test
from mixedmodels.inference.kenward_roger import kenward_roger_df, kr_adjustment, vcov_adjusted
from mixedmodels.inference.r2 import icc, r2
from mixedmodels.inference.satterthwaite import satterthwaite_df, varpar_covariance

__all__ = [
    "FTest",
    "TTest",
    "anova_table",
    "coef_table",
    "f_test",
    "icc",
    "kenward_roger_df",
    "kr_adjustment",
    "r2",
    "satterthwaite_df",
    "t_test",
    "varpar_covariance",
    "vcov_adjusted",
]
