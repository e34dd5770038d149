"""Test-wide set-up: float64 for JAX inside every test (scoped, as mfjax's public API does), and
mfjax's persistent compilation cache in a temporary folder of this test session (never the user's
~/.cache), unless MFJAX_CACHE_DIR or MFJAX_NO_CACHE is set already."""
import os
import tempfile

import jax
import pytest

if not os.environ.get("MFJAX_CACHE_DIR") and not os.environ.get("MFJAX_NO_CACHE"):
    os.environ["MFJAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="mfjax-test-cache-")


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield
