"""Test-wide set-up: float64 for JAX inside every test (scoped, as mfjax's public API does), and no
persistent compilation cache (never the user's ~/.cache) unless MFJAX_CACHE_DIR or MFJAX_NO_CACHE is
set already: writing hundreds of programs to the cache from one long test process crashed twice
inside JAX's cache writer (jax/_src/compilation_cache.py put_executable_and_time); the cache's own
behaviour is tested in tests/test_compilation.py with folders of its own."""
import os

import jax
import pytest

if not os.environ.get("MFJAX_CACHE_DIR") and not os.environ.get("MFJAX_NO_CACHE"):
    os.environ["MFJAX_NO_CACHE"] = "1"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after each test module. One process running the whole suite
    otherwise accumulates thousands of XLA executables and was seen to crash inside XLA (segfaults
    in compilation and in the cache writer, late in the run, never in the module alone)."""
    yield
    jax.clear_caches()


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield
