"""The persistent compilation cache, on by default: a later Python process loads mfjax's compiled
programs from disk instead of compiling them again (JAX's persistent compilation cache). Never needed
for correctness.

Where: ``$MFJAX_CACHE_DIR`` if set, else ``~/.cache/mfjax/jax``. Off: ``MFJAX_NO_CACHE=1`` in the
environment, or ``mfjax.enable_compilation_cache(False)``. The cache is switched on only INSIDE mfjax's
public calls (scoped, as float64 is, see :mod:`mfjax._x64`): JAX's global settings are left alone, so a
notebook's own programs are not written there. If the user has set ``jax_compilation_cache_dir``
themselves, mfjax uses theirs and changes nothing.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import jax

try:  # scoped (thread-local) settings; JAX's public API only has the global jax.config.update
    from jax._src import compilation_cache as _jax_cache
    from jax._src import config as _jax_config
    _SCOPED = all(hasattr(_jax_config, name) for name in (
        "compilation_cache_dir", "persistent_cache_min_compile_time_secs", "persistent_cache_min_entry_size_bytes"))
except ImportError:  # pragma: no cover - depends on the JAX version
    _SCOPED = False

_choice: list = [None]      # None: decide from the environment at the first call; False: off; str: folder
_ready: dict = {}           # folder -> usable (created once)
_opened: list = [None]      # the folder JAX's cache object was opened on (JAX opens it once per process)


def default_folder() -> str:
    """``$MFJAX_CACHE_DIR`` or ``~/.cache/mfjax/jax``."""
    return os.environ.get("MFJAX_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mfjax", "jax")


def enable_compilation_cache(path: str | os.PathLike | bool | None = None) -> str | None:
    """Choose where mfjax keeps its compiled programs: ``path`` (a folder), None or True (the default
    folder, ``$MFJAX_CACHE_DIR`` or ``~/.cache/mfjax/jax``), or False (no cache in this process).
    The cache is on by default; call this only to move it or turn it off. Returns the folder (None when
    off, or with a warning when the folder cannot be created or written)."""
    if path is False:
        _choice[0] = False
        return None
    folder = default_folder() if path is None or path is True else os.fspath(path)
    _choice[0] = folder
    if not _usable(folder):
        return None
    if not _SCOPED:  # pragma: no cover - older/newer JAX without the scoped settings
        _set_globally(folder)
    return folder


def _usable(folder: str) -> bool:
    if folder not in _ready:
        try:
            os.makedirs(folder, exist_ok=True)
            _ready[folder] = os.access(folder, os.W_OK)
        except OSError:
            _ready[folder] = False
        if not _ready[folder]:
            warnings.warn(f"mfjax: compilation cache folder {folder!r} is not writable; compiling without it",
                          stacklevel=3)
    return _ready[folder]


def _set_globally(folder: str):  # pragma: no cover - fallback for JAX versions without scoped settings
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def active_folder() -> str | None:
    """The folder mfjax's calls use now (None: no cache, or the user's own JAX setting rules)."""
    if jax.config.jax_compilation_cache_dir is not None:
        return None                       # the user's own choice (or the global fallback) already applies
    if _choice[0] is None:
        off = os.environ.get("MFJAX_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")
        _choice[0] = False if off else default_folder()
    folder = _choice[0]
    return folder if folder and _usable(folder) else None


@contextlib.contextmanager
def scoped():
    """Inside: JAX's persistent cache writes to and reads from mfjax's folder, every program kept."""
    folder = active_folder() if _SCOPED else None
    if folder is None:
        yield
        return
    if _opened[0] not in (None, folder):
        _jax_cache.reset_cache()          # another folder chosen since: JAX reopens its cache there
    _opened[0] = folder
    with _jax_config.compilation_cache_dir(folder), _jax_config.persistent_cache_min_compile_time_secs(0.0), \
            _jax_config.persistent_cache_min_entry_size_bytes(0):
        yield
