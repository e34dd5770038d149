"""Readers and writers of the field's file formats (one module per format) and of mfjax's results
(CSV, JSON)."""
from .modelfree4 import (read_mfdata, read_mfin, read_mfmodel, read_mfpar, write_mfdata, write_mfin, write_mfmodel,
                         write_mfpar)
from .nmrstar import read_nmrstar, read_nmrstar_order_parameters, write_nmrstar
from .pdb import read_pdb_vectors, vectors_for
from .relax import read_relax, write_relax
from .relax_xml import RelaxResults, read_relax_results
from .results import read_results_csv, read_results_json, write_results_csv, write_results_json

__all__ = ["read_relax", "write_relax", "read_relax_results", "RelaxResults", "read_pdb_vectors", "vectors_for",
           "read_mfdata", "write_mfdata", "read_mfmodel", "write_mfmodel", "read_mfpar", "write_mfpar", "read_mfin",
           "write_mfin", "read_nmrstar", "write_nmrstar", "read_nmrstar_order_parameters", "read_results_csv",
           "read_results_json", "write_results_csv", "write_results_json"]
