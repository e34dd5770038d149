"""mfjax: model-free analysis of NMR relaxation data, written once in JAX.

Public surface (everything else is an implementation detail):

- data: :class:`Experiment`, :class:`RelaxationData`, :func:`read_relax`, :func:`read_relax_results`
- files: :mod:`mfjax.io` (relax column and XML files, Modelfree4, NMR-STAR, PDB bond vectors)
- physics: :class:`Sphere`, :class:`Spheroid`, :class:`Ellipsoid`, :func:`back_calc`, :func:`chi2`
- models: :data:`MODELS`, :func:`get_model`, :func:`register_model`
- fitting: :func:`fit` (``starts=`` for multi-start), :func:`fit_models`, :class:`FitResult`, :class:`Status`
- errors and models: :func:`monte_carlo`, :func:`covariance_errors`, :func:`select`
- diffusion tensors: :func:`fit_tensor`, :class:`TensorFitResult`, :func:`fold` (conversions are the
  tensors' ``from_*`` constructors and properties)
- speed: :func:`enable_compilation_cache` (the persistent compilation cache is on by default)
- users: :mod:`mfjax.sanity` (unit checks and their override), :mod:`mfjax.plot` (figures),
  :func:`write_results_csv`, :func:`write_results_json`, :func:`read_results_csv`, :func:`read_results_json`

All public functions compute in float64 (scoped, JAX's global setting is left alone) and return numpy arrays.
"""
from mfjax.compilation_cache import enable_compilation_cache
from mfjax.covariance import CovarianceResult, covariance_errors
from mfjax.data import Experiment, RelaxationData
from mfjax.diffusion import Ellipsoid, Sphere, Spheroid, fold
from mfjax.fit import FitResult, fit, fit_models
from mfjax import plot, sanity
from mfjax.io import (read_relax, read_relax_results, read_results_csv, read_results_json, write_results_csv,
                      write_results_json)
from mfjax.models import MODELS, get_model, register_model
from mfjax.montecarlo import MonteCarloResult, monte_carlo
from mfjax.objective import back_calc, chi2
from mfjax.selection import Selection, information_criterion, select
from mfjax.status import Status
from mfjax.tensor import TensorFitResult, fit_tensor

__version__ = "0.1.0"

__all__ = ["Experiment", "RelaxationData", "read_relax", "Sphere", "Spheroid", "Ellipsoid", "back_calc", "chi2",
           "MODELS", "get_model", "register_model", "fit", "fit_models", "FitResult", "Status",
           "enable_compilation_cache",
           "read_relax_results", "sanity", "plot", "write_results_csv", "write_results_json", "read_results_csv",
           "read_results_json", "fit_tensor", "TensorFitResult", "fold",
           "monte_carlo", "MonteCarloResult", "covariance_errors", "CovarianceResult", "select", "Selection",
           "information_criterion"]
