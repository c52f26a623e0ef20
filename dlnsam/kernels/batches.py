"""The batches of the stochastic algorithms, selected from uniforms in compiled code.

A batch of b rows out of n is the first b entries of the permutation that
sorts n uniforms (:func:`dlnsam.training.draw_batches`). For a small batch
only the b smallest are needed, in order: one pass over the n uniforms with
a sorted buffer of b, instead of a sort of all n per step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["smallest"]


@njit(cache=True, nogil=True)
def smallest(U, b):
    """Indices of the b smallest entries of each row of U (count, n), in increasing order.

    Equal entries keep their order in the row (the earlier index first), as a
    stable sort does: row t is ``numpy.argsort(U[t], kind="stable")[:b]``.
    """
    count, n = U.shape
    out = np.empty((count, b), dtype=np.int64)
    vals = np.empty(b)
    for t in range(count):
        filled = 0
        for i in range(n):
            x = U[t, i]
            if filled < b:
                j = filled
                filled += 1
            elif x < vals[b - 1]:
                j = b - 1
            else:
                continue
            while j > 0 and vals[j - 1] > x:
                vals[j] = vals[j - 1]
                out[t, j] = out[t, j - 1]
                j -= 1
            vals[j] = x
            out[t, j] = i
    return out
