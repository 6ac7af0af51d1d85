"""Rendering of fitted models: lme4's text layout, HTML, and the tables as DataFrames."""

from mixedmodels.display.summary import Summary

__all__ = ["Summary"]
