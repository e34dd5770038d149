"""Readers for relaxation-data files; writers and readers of mfjax's results (CSV, JSON)."""
from .relax import read_relax
from .results import read_results_csv, read_results_json, write_results_csv, write_results_json

__all__ = ["read_relax", "read_results_csv", "read_results_json", "write_results_csv", "write_results_json"]
