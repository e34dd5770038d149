"""Readers for relaxation-data files."""
from .relax import read_relax

__all__ = ["read_relax"]
