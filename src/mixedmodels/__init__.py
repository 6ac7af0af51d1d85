"""mixedmodels: linear mixed-effects models with lme4's formulas and numbers.

>>> import mixedmodels as mm
>>> fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
"""

from mixedmodels import datasets
from mixedmodels.errors import DataError, FormulaError, MixedModelsError
from mixedmodels.fit import LmerFit
from mixedmodels.model import LinearMixedModel, lmer
from mixedmodels.varcorr import VarCorr

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "FormulaError",
    "LinearMixedModel",
    "LmerFit",
    "MixedModelsError",
    "VarCorr",
    "__version__",
    "datasets",
    "lmer",
]
