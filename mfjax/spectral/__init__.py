"""Spectral density functions J(ω) of model-free analysis."""
from .model_free import (FORM_PARAMS, FORM_SLOTS, GENERIC_FIXED, GENERIC_SLOTS, fact_t, fact_ti,
                         generic_spectral_density, spectral_density)

__all__ = ["FORM_PARAMS", "FORM_SLOTS", "GENERIC_FIXED", "GENERIC_SLOTS", "fact_t", "fact_ti",
           "generic_spectral_density", "spectral_density"]
