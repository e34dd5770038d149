"""Opt-in persistent compilation cache: a second Python process reuses the compiled solver
instead of compiling it again. Never needed for correctness."""
from __future__ import annotations

import os

import jax


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str:
    """Store jitted programs in ``path`` (default ``$MFJAX_CACHE_DIR`` or ``~/.cache/mfjax/jax``)
    and reuse them in later processes. Call once, before the first fit. Returns the folder."""
    folder = os.fspath(path or os.environ.get("MFJAX_CACHE_DIR") or os.path.expanduser("~/.cache/mfjax/jax"))
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
