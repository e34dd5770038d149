"""Scoped settings of mfjax's public entry points: they run in double precision (and with mfjax's
persistent compilation cache, :mod:`mfjax.compilation_cache`) without switching JAX globally for the
rest of a notebook."""
import functools

import jax

from .compilation_cache import scoped as _cache_scope


def x64(func):
    """Decorate a public function so its body runs under ``jax.enable_x64(True)`` (and the cache scope)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True), _cache_scope():
            return func(*args, **kwargs)

    return wrapper
