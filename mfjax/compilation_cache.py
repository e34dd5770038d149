"""The persistent compilation cache, on by default: a later Python process loads mfjax's compiled
programs from disk instead of compiling them again (JAX's persistent compilation cache). Never needed
for correctness.

Where: ``$MFJAX_CACHE_DIR`` if set, else ``~/.cache/mfjax/jax``. Off: ``MFJAX_NO_CACHE=1`` in the
environment, or ``mfjax.enable_compilation_cache(False)`` before the first fit. mfjax switches JAX's
cache on once, at its first public call, with JAX's public settings (``jax_compilation_cache_dir``):
from then on the process's other JAX programs are cached there too. If the user has set
``jax_compilation_cache_dir`` themselves, mfjax uses theirs and changes nothing. (An earlier version
switched the cache on only inside mfjax's calls through JAX's private thread-local settings; toggling
it call after call crashed JAX's cache writer in long processes, so mfjax no longer does that.)
"""
from __future__ import annotations

import os
import warnings

import jax

_choice: list = [None]      # None: decide from the environment at the first call; False: off; str: folder
_done: list = [False]       # the global switch has been made (or declined) once


def default_folder() -> str:
    """``$MFJAX_CACHE_DIR`` or ``~/.cache/mfjax/jax``."""
    return os.environ.get("MFJAX_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mfjax", "jax")


def enable_compilation_cache(path: str | os.PathLike | bool | None = None) -> str | None:
    """Choose where mfjax keeps its compiled programs: ``path`` (a folder), None or True (the default
    folder, ``$MFJAX_CACHE_DIR`` or ``~/.cache/mfjax/jax``), or False (no cache: JAX's cache setting is
    cleared). Takes effect at once. Returns the folder (None when off, or with a warning when the
    folder cannot be created or written)."""
    _done[0] = True
    if path is False:
        _choice[0] = False
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    folder = default_folder() if path is None or path is True else os.fspath(path)
    _choice[0] = folder
    if not _usable(folder):
        return None
    _set_globally(folder)
    return folder


def _usable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        ok = os.access(folder, os.W_OK)
    except OSError:
        ok = False
    if not ok:
        warnings.warn(f"mfjax: compilation cache folder {folder!r} is not writable; compiling without it",
                      stacklevel=3)
    return ok


def _set_globally(folder: str):
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def switch_on_once():
    """At mfjax's first public call: the default cache, unless turned off (``MFJAX_NO_CACHE``,
    ``enable_compilation_cache(False)``) or the user's own ``jax_compilation_cache_dir`` is set."""
    if _done[0]:
        return
    _done[0] = True
    if jax.config.jax_compilation_cache_dir is not None:
        return
    off = os.environ.get("MFJAX_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")
    if off or _choice[0] is False:
        return
    folder = default_folder()
    if _usable(folder):
        _choice[0] = folder
        _set_globally(folder)


def active_folder() -> str | None:
    """The folder JAX's persistent cache uses now (None: none)."""
    return jax.config.jax_compilation_cache_dir
