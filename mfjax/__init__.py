"""mfjax: model-free analysis of NMR relaxation data, written once in JAX."""
