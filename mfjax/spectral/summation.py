"""Summation in numpy's order, for bit-for-bit agreement with relax (which sums with numpy).

``numpy.sum`` of a contiguous float64 vector is a pairwise sum: below 8 terms a plain left-to-right
loop, up to 128 terms eight interleaved partial sums, beyond that the two halves recursively. XLA's
reductions use another order, so sums whose last bit matters are unrolled here over a static number
of terms (the number of measurements or of diffusion components).
"""
from __future__ import annotations

from typing import Sequence


def numpy_sum(terms: Sequence):
    """Sum of ``terms`` (a static Python sequence of scalars or arrays) in numpy's pairwise order."""
    n = len(terms)
    if n == 0:
        return 0.0
    if n < 8:
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total
    if n <= 128:
        partial = list(terms[:8])
        i = 8
        while i < n - n % 8:
            for j in range(8):
                partial[j] = partial[j] + terms[i + j]
            i += 8
        total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + \
                ((partial[4] + partial[5]) + (partial[6] + partial[7]))
        for term in terms[i:]:
            total = total + term
        return total
    half = n // 2
    half -= half % 8
    return numpy_sum(terms[:half]) + numpy_sum(terms[half:])
