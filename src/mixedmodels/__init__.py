"""mixedmodels: linear mixed-effects models with lme4's formulas and numbers.

>>> import mixedmodels as mm
>>> fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
"""

from mixedmodels import datasets
from mixedmodels.compare import anova
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.fit import LmerFit
from mixedmodels.inference.linear_model import LinearModelFit, lm
from mixedmodels.inference.simulated_lrt import pb_test, simulated_lrt
from mixedmodels.model import LinearMixedModel, lmer
from mixedmodels.persist import PersistError, load
from mixedmodels.varcorr import VarCorr

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "FormulaError",
    "LinearMixedModel",
    "LinearModelFit",
    "LmerFit",
    "MixedModelsError",
    "PersistError",
    "VarCorr",
    "__version__",
    "anova",
    "datasets",
    "lm",
    "lmer",
    "load",
    "pb_test",
    "simulated_lrt",
]
