"""Batch sizes padded to powers of two, so that varying batch sizes reuse the same compilations."""


def padded_size(n: int, minimum: int = 1) -> int:
    """The smallest power of two ≥ max(n, minimum)."""
    return 1 << (max(int(n), int(minimum), 1) - 1).bit_length()
