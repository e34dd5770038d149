"""Scoped float64 for mfjax's public entry points: they run in double precision without switching JAX
globally for the rest of a notebook (the first one also switches the persistent compilation cache on,
:mod:`mfjax.compilation_cache`)."""
import functools

import jax

from .compilation_cache import switch_on_once


def x64(func):
    """Decorate a public function so its body runs under ``jax.enable_x64(True)``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        switch_on_once()
        with jax.enable_x64(True):
            return func(*args, **kwargs)

    return wrapper
