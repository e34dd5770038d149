"""Spectral density functions J(ω) of model-free analysis."""
from .model_free import FORM_PARAMS, fact_t, fact_ti, spectral_density

__all__ = ["FORM_PARAMS", "fact_t", "fact_ti", "spectral_density"]
