"""mfjax: model-free analysis of NMR relaxation data, written once in JAX.

Public surface (everything else is an implementation detail):

- data: :class:`Experiment`, :class:`RelaxationData`, :func:`read_relax`
- physics: :class:`Sphere`, :class:`Spheroid`, :class:`Ellipsoid`, :func:`back_calc`, :func:`chi2`
- models: :data:`MODELS`, :func:`get_model`, :func:`register_model`
- fitting: :func:`fit` (``starts=`` for multi-start), :class:`FitResult`, :class:`Status`
- errors and models: :func:`monte_carlo`, :func:`covariance_errors`, :func:`select`
- speed: :func:`enable_compilation_cache`

All public functions compute in float64 (scoped, JAX's global setting is left alone) and return numpy arrays.
"""
from mfjax.compilation_cache import enable_compilation_cache
from mfjax.covariance import CovarianceResult, covariance_errors
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid
from mfjax.fit import FitResult, fit
from mfjax.io import read_relax
from mfjax.models import MODELS, get_model, register_model
from mfjax.montecarlo import MonteCarloResult, monte_carlo
from mfjax.objective import back_calc, chi2
from mfjax.selection import Selection, information_criterion, select
from mfjax.status import Status

__version__ = "0.1.0"

__all__ = ["Experiment", "RelaxationData", "read_relax", "Sphere", "Spheroid", "Ellipsoid", "back_calc", "chi2",
           "MODELS", "get_model", "register_model", "fit", "FitResult", "Status", "enable_compilation_cache",
           "monte_carlo", "MonteCarloResult", "covariance_errors", "CovarianceResult", "select", "Selection",
           "information_criterion"]
