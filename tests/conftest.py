"""Test-wide set-up: float64 for JAX inside every test (scoped, as mfjax's public API does)."""
import jax
import pytest


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield
