"""Scoped float64: mfjax's public entry points run in double precision without
switching JAX to x64 globally for the rest of a notebook."""
import functools

import jax


def x64(func):
    """Decorate a public function so its body runs under ``jax.enable_x64(True)``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return func(*args, **kwargs)

    return wrapper
