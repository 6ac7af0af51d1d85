"""Model checks that are numbers: simulation-based (DHARMa) residuals and their tests."""

from mixedmodels.diagnostics.simulated_residuals import (
    SimulatedResiduals,
    TestResult,
    simulated_residuals,
)

__all__ = ["SimulatedResiduals", "TestResult", "simulated_residuals"]
