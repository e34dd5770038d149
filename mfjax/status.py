"""Per-problem outcome codes shared by the solvers and ``mfjax.fit``."""
from enum import IntEnum


class Status(IntEnum):
    """Why a problem stopped. Every fitted residue carries one of these."""

    RUNNING = -1              #: internal: not finished yet
    CONVERGED = 0             #: the convergence test of the algorithm was met
    MAX_ITERATIONS = 1        #: the iteration limit was reached first
    NOT_FINITE = 2            #: the function, gradient or Hessian became NaN/inf; last finite point returned
    LINE_SEARCH_ERROR = 3     #: the line search failed (e.g. not a descent direction for Moré–Thuente)
    MU_TOO_SMALL = 4          #: Method of Multipliers: penalty parameter fell below 1e-99
    NO_PARAMETERS = 5         #: nothing to optimise (e.g. model m0): the function was only evaluated
    SKIPPED_NO_DATA = 6       #: residue has no measured data: not fitted
    SKIPPED_TOO_FEW_DATA = 7  #: fewer data points than parameters (relax's overfit rule): not fitted
    SINGULAR_MATRIX = 8       #: Levenberg–Marquardt / Gauss–Newton: the normal-equation matrix is singular
    DEGENERATE_CORNER = 9     #: converged where a time is undefined (S2 = 1 with τe, ...): see mfjax.corners
    BOUND_STOP = 10           #: Modelfree4-style constraints: the search direction points out of the region
    SKIPPED_CANNOT_WIN = 11   #: model selection: the model could not be selected for this residue: not fitted
    CRITERION_UNDEFINED = 12  #: model selection (``Selection.status`` only): fitted, but the criterion is undefined (AICc, n ≤ k + 1)

    @property
    def ok(self) -> bool:
        """True when the result is a proper minimum (converged or nothing to optimise)."""
        return self in (Status.CONVERGED, Status.NO_PARAMETERS)


def status_names(codes):
    """Names of an array of status codes, e.g. ``["CONVERGED", ...]``."""
    return [Status(int(c)).name for c in codes]
