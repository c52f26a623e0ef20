"""Numba kernel: the hypentropy dual solved by Newton in λ-space (the fast path of solve).

The method is described in :mod:`dlnsam.hypentropy.newton`, whose NumPy
implementation (the robust path) is this kernel's reference.

:func:`dlnsam.hypentropy.solve` minimizes the dual

    F(λ) = Σ_i 2α_i² (cosh z_i − 1) − yᵀλ,   z = Xᵀλ,

whose gradient is Xβ − y with β = 2α² ⊙ sinh z and whose Hessian is
X diag(w) Xᵀ with w = 2α² ⊙ cosh z. Its robust path (NumPy/SciPy) whitens the
system with an SVD of X and solves every Newton system by a Householder QR of
the row-sorted diag(√w) V, which stays accurate when the weights w span
hundreds of decades (tiny α). When X is well conditioned and the weights span
a modest range, the n×n Hessian is well conditioned too, and :func:`newton`
takes the same damped Newton iteration (same trust radius, Armijo line search
and rounding-aware acceptance, see ``dlnsam.hypentropy.newton._newton``) directly on λ, with
Newton systems solved by a Cholesky factorization of the Hessian. It checks
that this is safe as it goes and stops, with its λ and iteration state, as soon
as it is not; the Python layer then continues on the robust path.

Safety. With G = XXᵀ and κ₁(G) = ‖G‖₁ ‖G⁻¹‖₁ (‖G⁻¹‖₁ from Hager's estimator
with Higham's extra vector, as in LAPACK's dpocon), the Hessian satisfies

    κ₂(X diag(w) Xᵀ) ≤ κ₂(G) · max w / min w ≤ κ₁(G) · max w / min w.

The kernel requires κ₁(G) ≤ :data:`COND_LIMIT` (κ₂(X) ≲ 30: then z = Xᵀλ is
computed about as accurately as the robust path's whitened z = Vμ) and, before
every Newton step, κ₁(G) · max w / min w ≤ :data:`RANGE_LIMIT`, so that the
Cholesky solve has a relative error of at most about n ε · 1e10 ≈ 1e-5 (Newton
still converges fast; the rate only matters at the end, below). A pivot that
is not > 0 or an overflow also stops it (``NEWTON_UNSAFE``). Rank-deficient X,
tiny α (below about 1e-4 for |β| of order 1: the weights spread with the
iterations) and per-coordinate α spanning more than a few decades therefore go
to the robust path, at once or midway.

End game. Once the Newton decrement drops below the rounding error of F, the
robust path counts "rounding steps" and declares a stall after 10 of them that
do not halve the residual. Its rounding floor can be lower than that of the
Cholesky iteration (whose last steps are also less exact), so after
:data:`HANDOVER_ROUNDING_STEPS` of them the kernel hands over (``NEWTON_ROUNDING``)
and the robust path finishes with the same count. A solve that converges
before that, the usual case, never leaves the kernel.

Terms. With a = |z|, e = e^{−a} and m = e^{−a} − 1, both from :func:`_exp_neg`
(about 1 ulp, m as accurate as ``expm1``; branch-free, so the loop vectorizes):

    2α²(cosh z − 1) = α² m² / e,   2α² sinh z = sign(z) α² (−m)(1 + e) / e,
    2α² cosh z = α² (1 + e²) / e.

The robust path rejects points with log 2α² + a − log 2 > 650 (the dual is then
+∞ for the line search); so does this kernel. It also stops where a > 700
(e^{−a} would lose precision), which needs α < 1e-11 and is never safe anyway.

Residuals. The relative primal residual is ‖Xβ − y‖₂ / ‖y‖₂. The dual residual
is ‖P_null(X) ∇φ_α(β)‖₂ / ‖∇φ_α(β)‖₂ with ∇φ_α(β) = arcsinh(β/(2α²)) recomputed
from β (:func:`_asinh`, about 1 ulp), as in the robust path. The projection
uses the Cholesky factor of G: P_null v = v − Xᵀ G⁻¹ X v, applied to
r = ∇φ_α(β) − Xᵀλ (the same projection, as P_null Xᵀλ = 0), so that the error of
the G-solve, ≈ ε κ(G) ‖r‖, is relative to the small r and not to ‖∇φ_α(β)‖.

Speed. Inner loops run over the d coordinates of contiguous rows and are
compiled with ``fastmath={"reassoc", "contract"}`` (vectorized sums and fused
multiply–adds; NaN and inf still propagate), the Gram and Hessian products in
4×4 blocks of rows; from :data:`BLAS_ROWS` rows on (and large n²d) they go to
BLAS through ``np.dot``. All work arrays take four allocations.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from dlnsam.kernels import FASTMATH
from dlnsam.status import (
    NEWTON_CONVERGED,
    NEWTON_LINE_SEARCH_FAILED,
    NEWTON_MAX_ITER,
    NEWTON_ROUNDING,
    NEWTON_UNSAFE,
)

# Status codes (dlnsam.status). NEWTON_CONVERGED and NEWTON_MAX_ITER end the solve;
# after the others (NEWTON_UNSAFE: κ(XXᵀ) or the spread of the Hessian weights too
# large; NEWTON_ROUNDING: more than HANDOVER_ROUNDING_STEPS rounding steps without
# halving the residual; NEWTON_LINE_SEARCH_FAILED) the Python layer continues on the
# robust (SVD/QR) path from the returned λ and iteration state.
#: Largest accepted 1-norm condition estimate of G = XXᵀ (κ₂(X) up to about 30).
COND_LIMIT = 1e3
#: Largest accepted κ₁(G) · max w / min w, a bound on the Hessian's condition number.
RANGE_LIMIT = 1e10
#: Rounding steps (see :func:`newton`) after which the robust path takes over the end
#: game: its rounding floor can be lower, and it detects a stall after 10 of them.
HANDOVER_ROUNDING_STEPS = 2
#: From this n²d and n rows on, the Gram and Hessian products are formed by BLAS (np.dot).
BLAS_WORK = 4_000_000
BLAS_ROWS = 256

# The constants of the robust path (dlnsam.hypentropy.newton), repeated here because
# Numba's cache is keyed on this file alone (a test checks that they agree).
_LOG2 = math.log(2.0)
_MAX_EXPONENT = 650.0
_TRUST_RADIUS = 10.0
_ARMIJO = 1e-4
_MAX_BACKTRACKS = 60
_ROUNDING = 64 * float(np.finfo(np.float64).eps)
# e^{−a} stays a normal double with full precision up to here.
_MAX_ABS_Z = 700.0

# e^{−a} = 2^{−k} e^{r}: k = round(a / log 2), r = k log 2 − a in two parts (Cody–Waite),
# e^r − 1 by its Taylor polynomial of degree 13 (|r| ≤ log(2)/2: truncation < 2e-17 · |r|).
_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # 32 significant bits: k · _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(k) for k in range(2, 14)
)

# log v = k log 2 + log(1 + f), 1 + f ∈ [√½, √2): fdlibm's e_log.c, with s = f/(2 + f),
# log(1 + f) = f − f²/2 + s (f²/2 + R(s²)) and its minimax coefficients (error < 1 ulp).
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2_MANTISSA = 0x6A09E667F3BCD  # the 52 fraction bits of √2
_FRACTION = 0xFFFFFFFFFFFFF
# asinh(u) = log(2u) once √(1 + u²) = u in double, and = u below 3.7e-9 (u³/6 < ε u / 2).
_ASINH_LARGE = 2.0**28
_ASINH_SMALL = 3.7e-9

# Outcomes of one evaluation of the terms.
_OK = 0
_OVERFLOW = 1  # log 2α² + |z| − log 2 > 650 somewhere: F = +∞ for the line search
_OUT_OF_RANGE = 2  # |z| > 700 below that: only the robust path can evaluate the terms


@njit(cache=True, fastmath=FASTMATH)
def _transpose_times(X, v, out):
    """out = Xᵀ v, accumulated four rows of X at a time (contiguous in X)."""
    n, d = X.shape
    for i in range(d):
        out[i] = 0.0
    j = 0
    while j + 4 <= n:
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        for i in range(d):
            out[i] += X[j, i] * v0 + X[j + 1, i] * v1 + X[j + 2, i] * v2 + X[j + 3, i] * v3
        j += 4
    while j < n:
        vj = v[j]
        for i in range(d):
            out[i] += X[j, i] * vj
        j += 1


@njit(cache=True, fastmath=FASTMATH)
def _times_minus(X, v, y, out):
    """out = X v − y, four rows at a time; returns ‖out‖₂."""
    n, d = X.shape
    total = 0.0
    j = 0
    while j + 4 <= n:
        a0, a1, a2, a3 = 0.0, 0.0, 0.0, 0.0
        for i in range(d):
            vi = v[i]
            a0 += X[j, i] * vi
            a1 += X[j + 1, i] * vi
            a2 += X[j + 2, i] * vi
            a3 += X[j + 3, i] * vi
        a0, a1, a2, a3 = a0 - y[j], a1 - y[j + 1], a2 - y[j + 2], a3 - y[j + 3]
        out[j], out[j + 1], out[j + 2], out[j + 3] = a0, a1, a2, a3
        total += a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3
        j += 4
    while j < n:
        acc = 0.0
        for i in range(d):
            acc += X[j, i] * v[i]
        acc -= y[j]
        out[j] = acc
        total += acc * acc
        j += 1
    return math.sqrt(total)


@njit(cache=True, fastmath=FASTMATH)
def _weighted_gram(X, v, out):
    """The lower triangle of out = X diag(v) Xᵀ (n×n).

    out_jk = Σ_i X_ji v_i X_ki for k ≤ j, in 4×4 blocks of (j, k) (sixteen dot
    products share each load, the weights are applied on the fly), and the ten
    lower entries of the blocks on the diagonal. Large n²d goes to BLAS
    (np.dot), which blocks for the caches.
    """
    n, d = X.shape
    if n * n * d > BLAS_WORK and n >= BLAS_ROWS:
        A = np.empty((n, d))
        for j in range(n):
            for i in range(d):
                A[j, i] = X[j, i] * v[i]
        out[:, :] = np.dot(X, A.T)
        return
    n4 = n - n % 4
    for j in range(0, n4, 4):
        b00 = b10 = b11 = b20 = b21 = b22 = b30 = b31 = b32 = b33 = 0.0
        for i in range(d):
            vi = v[i]
            p0, p1, p2, p3 = X[j, i], X[j + 1, i], X[j + 2, i], X[j + 3, i]
            q0, q1, q2, q3 = p0 * vi, p1 * vi, p2 * vi, p3 * vi
            b00 += p0 * q0
            b10 += p1 * q0
            b11 += p1 * q1
            b20 += p2 * q0
            b21 += p2 * q1
            b22 += p2 * q2
            b30 += p3 * q0
            b31 += p3 * q1
            b32 += p3 * q2
            b33 += p3 * q3
        out[j, j] = b00
        out[j + 1, j], out[j + 1, j + 1] = b10, b11
        out[j + 2, j], out[j + 2, j + 1], out[j + 2, j + 2] = b20, b21, b22
        out[j + 3, j], out[j + 3, j + 1], out[j + 3, j + 2], out[j + 3, j + 3] = b30, b31, b32, b33
        for k in range(0, j, 4):
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
            for i in range(d):
                vi = v[i]
                p0, p1, p2, p3 = X[j, i], X[j + 1, i], X[j + 2, i], X[j + 3, i]
                q0, q1 = X[k, i] * vi, X[k + 1, i] * vi
                q2, q3 = X[k + 2, i] * vi, X[k + 3, i] * vi
                a00 += p0 * q0
                a01 += p0 * q1
                a02 += p0 * q2
                a03 += p0 * q3
                a10 += p1 * q0
                a11 += p1 * q1
                a12 += p1 * q2
                a13 += p1 * q3
                a20 += p2 * q0
                a21 += p2 * q1
                a22 += p2 * q2
                a23 += p2 * q3
                a30 += p3 * q0
                a31 += p3 * q1
                a32 += p3 * q2
                a33 += p3 * q3
            out[j, k], out[j, k + 1], out[j, k + 2], out[j, k + 3] = a00, a01, a02, a03
            out[j + 1, k], out[j + 1, k + 1], out[j + 1, k + 2], out[j + 1, k + 3] = (
                a10, a11, a12, a13)  # fmt: skip
            out[j + 2, k], out[j + 2, k + 1], out[j + 2, k + 2], out[j + 2, k + 3] = (
                a20, a21, a22, a23)  # fmt: skip
            out[j + 3, k], out[j + 3, k + 1], out[j + 3, k + 2], out[j + 3, k + 3] = (
                a30, a31, a32, a33)  # fmt: skip
    for j in range(n4, n):  # the last n mod 4 rows
        for k in range(j + 1):
            acc = 0.0
            for i in range(d):
                acc += X[j, i] * v[i] * X[k, i]
            out[j, k] = acc


@njit(cache=True, fastmath=FASTMATH)
def _range(v):
    """(min v, max v) of a non-empty vector (not NaN-aware; 4 chains for speed)."""
    d = v.shape[0]
    lo0 = lo1 = lo2 = lo3 = v[0]
    hi0 = hi1 = hi2 = hi3 = v[0]
    i = 0
    while i + 4 <= d:
        v0, v1, v2, v3 = v[i], v[i + 1], v[i + 2], v[i + 3]
        lo0, hi0 = min(lo0, v0), max(hi0, v0)
        lo1, hi1 = min(lo1, v1), max(hi1, v1)
        lo2, hi2 = min(lo2, v2), max(hi2, v2)
        lo3, hi3 = min(lo3, v3), max(hi3, v3)
        i += 4
    while i < d:
        lo0, hi0 = min(lo0, v[i]), max(hi0, v[i])
        i += 1
    return min(min(lo0, lo1), min(lo2, lo3)), max(max(hi0, hi1), max(hi2, hi3))


@njit(cache=True, fastmath=FASTMATH)
def _cholesky(H):
    """In place: the strict lower triangle of H becomes that of L with H = L Lᵀ, and
    its diagonal 1 / L_jj (left-looking; the solves then multiply, not divide).

    L_jj = √(H_jj − Σ_{k<j} L_jk²),  L_ij = (H_ij − Σ_{k<j} L_ik L_jk) / L_jj  (i > j),
    four rows i at a time (they share the loads of row j). Returns False when a
    pivot is not > 0 (also NaN); H is then garbage.
    """
    n = H.shape[0]
    for j in range(n):
        s = H[j, j]
        for k in range(j):
            s -= H[j, k] * H[j, k]
        if not s > 0.0:
            return False
        inverse = 1.0 / math.sqrt(s)
        H[j, j] = inverse
        i = j + 1
        while i + 4 <= n:
            t0, t1, t2, t3 = H[i, j], H[i + 1, j], H[i + 2, j], H[i + 3, j]
            for k in range(j):
                ljk = H[j, k]
                t0 -= H[i, k] * ljk
                t1 -= H[i + 1, k] * ljk
                t2 -= H[i + 2, k] * ljk
                t3 -= H[i + 3, k] * ljk
            H[i, j], H[i + 1, j] = t0 * inverse, t1 * inverse
            H[i + 2, j], H[i + 3, j] = t2 * inverse, t3 * inverse
            i += 4
        while i < n:
            t = H[i, j]
            for k in range(j):
                t -= H[i, k] * H[j, k]
            H[i, j] = t * inverse
            i += 1
    return True


@njit(cache=True, fastmath=FASTMATH)
def _cholesky_solve(L, b, out):
    """out = (L Lᵀ)⁻¹ b: forward substitution L u = b, then back substitution Lᵀ x = u.

    L as left by :func:`_cholesky`, with 1 / L_ii on its diagonal.
    """
    n = L.shape[0]
    for i in range(n):
        t = b[i]
        for k in range(i):
            t -= L[i, k] * out[k]
        out[i] = t * L[i, i]
    # Lᵀ x = u, column-oriented so that rows of L are read contiguously.
    for i in range(n - 1, -1, -1):
        xi = out[i] * L[i, i]
        out[i] = xi
        for k in range(i):
            out[k] -= L[i, k] * xi


@njit(cache=True, fastmath=FASTMATH)
def _norm1_symmetric(H):
    """‖H‖₁ of a symmetric matrix given by its lower triangle."""
    n = H.shape[0]
    col = np.zeros(n)
    for j in range(n):
        for k in range(j):
            a = abs(H[j, k])
            col[j] += a
            col[k] += a
        col[j] += abs(H[j, j])
    top = 0.0
    for j in range(n):
        top = max(top, col[j])
    return top


@njit(cache=True, fastmath=FASTMATH)
def _inverse_norm1(L, x, v, xi):
    """Estimate of ‖(L Lᵀ)⁻¹‖₁ by Hager's method with Higham's extra vector (LAPACK dlacon).

    A lower bound that is almost always within a factor 3 of the exact value;
    the inverse is symmetric, so the transposed solves are plain solves.
    x, v, xi : (n,) work arrays.
    """
    n = L.shape[0]
    x[:] = 1.0 / n
    estimate = 0.0
    previous = -1
    for it in range(5):
        _cholesky_solve(L, x, v)
        total = 0.0
        for i in range(n):
            total += abs(v[i])
        if it > 0 and total <= estimate:
            break
        estimate = total
        for i in range(n):
            xi[i] = 1.0 if v[i] >= 0.0 else -1.0
        _cholesky_solve(L, xi, v)
        j = 0
        for i in range(1, n):
            if abs(v[i]) > abs(v[j]):
                j = i
        if j == previous:
            break
        previous = j
        x[:] = 0.0
        x[j] = 1.0
    # Higham: x_i = ±(1 + i/(n − 1)) catches matrices that fool the iteration.
    for i in range(n):
        x[i] = (1.0 + i / max(n - 1, 1)) * (1.0 if i % 2 == 0 else -1.0)
    _cholesky_solve(L, x, v)
    total = 0.0
    for i in range(n):
        total += abs(v[i])
    return max(estimate, 2.0 * total / (3.0 * n))


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """Reinterpret the 64 bits of a float64 as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _exp_neg(a):
    """(e^{−a}, e^{−a} − 1) for 0 ≤ a ≤ 700, both to about 1 ulp, without a libm call.

    e^{−a} = 2^{−k} (1 + p) and e^{−a} − 1 = (2^{−k} − 1) + 2^{−k} p with
    p = e^r − 1; for k = 0 the second is p itself, as accurate as expm1.
    Branch-free, so that loops over coordinates vectorize.
    """
    kf = np.floor(a * _INV_LN2 + 0.5)
    r = (kf * _LN2_HI - a) + kf * _LN2_LO
    q = _C13
    q = _C12 + r * q
    q = _C11 + r * q
    q = _C10 + r * q
    q = _C9 + r * q
    q = _C8 + r * q
    q = _C7 + r * q
    q = _C6 + r * q
    q = _C5 + r * q
    q = _C4 + r * q
    q = _C3 + r * q
    q = _C2 + r * q
    p = r + (r * r) * q
    scale = _bits_to_float((1023 - np.int64(kf)) << 52)  # 2^{−k}, k ≤ 1010: a normal
    return scale + scale * p, (scale - 1.0) + scale * p


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log(v, c, dk):
    """log(v) + c + dk log 2 for a normal v ≥ 1, a small c and an integer dk (< 1 ulp + |c| ε).

    fdlibm's log on the fraction and exponent taken from the bits; branch-free.
    """
    bits = _float_to_bits(v)
    fraction = bits & _FRACTION
    big = np.int64(fraction > _SQRT2_MANTISSA)  # 1 + f = m/2 for m ∈ [√2, 2)
    k = (bits >> 52) - 1023 + big + dk
    f = _bits_to_float(fraction | ((1023 - big) << 52)) - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    half_f_sq = 0.5 * f * f
    kf = np.float64(k)
    return kf * _LN2_HI - ((half_f_sq - (s * (half_f_sq + r) + (kf * _LN2_LO + c))) - f)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _asinh(u):
    """asinh(u) for finite u, to about 1 ulp like libm's, branch-free (loops vectorize).

    |u| ≤ 2^28: log1p(t) with t = |u| + u²/(1 + √(1 + u²)), as log(1 + t) plus the
    rounding correction (t − ((1 + t) − 1)) / (1 + t); larger: log|u| + log 2.
    """
    a = abs(u)
    large = a > _ASINH_LARGE
    b = min(a, _ASINH_LARGE)
    b_sq = b * b
    t = b + b_sq / (1.0 + math.sqrt(1.0 + b_sq))
    v = 1.0 + t
    c = (t - (v - 1.0)) / v
    r = _log(a if large else v, 0.0 if large else c, np.int64(large))
    r = a if a < _ASINH_SMALL else r
    return math.copysign(r, u)


#: Fast-math flags where :func:`_exp_neg`, :func:`_log` and :func:`_asinh` are
#: inlined: fused multiply–adds only. Their argument reductions (Cody–Waite) and
#: corrections depend on the order of the operations, which reassociation could change.
EXACT_ORDER = {"contract"}


# IEEE division (no ZeroDivisionError check), which lets the loop vectorize.
@njit(cache=True, fastmath=EXACT_ORDER, error_model="numpy")
def _terms(z, alpha_sq, log_two_alpha_sq, beta, w, excess):
    """The terms at z, coordinate by coordinate (no reduction, so no reassociation needed).

    β = 2α² sinh z into ``beta``, w = 2α² cosh z into ``w`` and 2α²(cosh z − 1)
    into ``excess``. Returns False if some exponent log 2α² + |z| − log 2 > 650
    or some |z| > 700 (the terms are then garbage).
    """
    d = z.shape[0]
    ok = True
    for i in range(d):
        zi = z[i]
        a = abs(zi)
        ok = ok & (log_two_alpha_sq[i] + a - _LOG2 <= _MAX_EXPONENT) & (a <= _MAX_ABS_Z)
        e, m = _exp_neg(min(a, _MAX_ABS_Z))
        scale = alpha_sq[i] / e  # α² e^{a}
        excess[i] = scale * m * m
        s = scale * -m * (1.0 + e)
        beta[i] = s if zi >= 0.0 else -s
        w[i] = scale * (1.0 + e * e)
    return ok


@njit(cache=True, fastmath=FASTMATH)
def _evaluate(X, lam, alpha_sq, log_two_alpha_sq, z, beta, w, excess):
    """z = Xᵀλ and the terms at z: β = 2α² sinh z into ``beta``, w = 2α² cosh z into ``w``.

    Returns (outcome, Σ 2α²(cosh z − 1)); the outcome is _OK, _OVERFLOW (some
    exponent log 2α² + |z| − log 2 > 650, the robust path's test) or
    _OUT_OF_RANGE (some |z| > 700 below that); the terms are then garbage.
    ``excess`` (d,) is scratch.
    """
    _transpose_times(X, lam, z)
    d = z.shape[0]
    if _terms(z, alpha_sq, log_two_alpha_sq, beta, w, excess):
        total = 0.0
        for i in range(d):
            total += excess[i]
        return _OK, total
    for i in range(d):
        if not log_two_alpha_sq[i] + abs(z[i]) - _LOG2 <= _MAX_EXPONENT:
            return _OVERFLOW, math.inf
    return _OUT_OF_RANGE, math.inf


@njit(cache=True, fastmath=EXACT_ORDER, error_model="numpy")
def _dual_residual(X, G, alpha_sq, beta, z, work_n, rhs_n, work_d):
    """‖P_null(X) ∇φ_α(β)‖ / ‖∇φ_α(β)‖ with ∇φ_α(β) = arcsinh(β/(2α²)), z = Xᵀλ.

    G holds the Cholesky factor of XXᵀ. The projection is applied to
    r = ∇φ_α(β) − z, P_null r = r − Xᵀ G⁻¹ X r, which is P_null ∇φ_α(β) since
    P_null z = 0. On this path β/(2α²) = sinh z (1 + O(ε)) with |z| ≤ 700, so
    the ratio is formed directly; it cannot overflow.
    """
    n, d = X.shape
    grad_sq = 0.0
    for i in range(d):
        g = _asinh(0.5 * beta[i] / alpha_sq[i])
        grad_sq += g * g
        work_d[i] = g - z[i]
    if grad_sq == 0.0:
        return 0.0
    work_n[:] = 0.0
    _times_minus(X, work_d, work_n, rhs_n)
    _cholesky_solve(G, rhs_n, work_n)
    j = 0
    while j + 4 <= n:
        c0, c1, c2, c3 = work_n[j], work_n[j + 1], work_n[j + 2], work_n[j + 3]
        for i in range(d):
            work_d[i] -= X[j, i] * c0 + X[j + 1, i] * c1 + X[j + 2, i] * c2 + X[j + 3, i] * c3
        j += 4
    while j < n:
        cj = work_n[j]
        for i in range(d):
            work_d[i] -= X[j, i] * cj
        j += 1
    off_sq = 0.0
    for i in range(d):
        off_sq += work_d[i] * work_d[i]
    return math.sqrt(off_sq / grad_sq)


# The pieces of newton are inlined into it (inline="always", at Numba's IR level),
# so that they are compiled once, as part of newton, rather than as separate
# functions that would each link and optimize the Gram and Cholesky loops again.
@njit(cache=True, fastmath=FASTMATH, inline="always")
def _gram_condition(X, G, ones, x, v, xi):
    """G = XXᵀ, replaced in place by its Cholesky factor; returns κ₁(G) (estimated).

    +∞ when G overflows or is not numerically positive definite. ``ones`` (d,)
    and x, v, xi (n,) are scratch.
    """
    ones[:] = 1.0
    _weighted_gram(X, ones, G)
    g_norm1 = _norm1_symmetric(G)
    if not g_norm1 < math.inf or not _cholesky(G):
        return math.inf
    return g_norm1 * _inverse_norm1(G, x, v, xi)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _scales(alpha, alpha_vec, alpha_sq, log_two_alpha_sq):
    """α² and log 2α² per coordinate, from the scalar ``alpha`` if ``alpha_vec`` is empty."""
    if alpha_vec.shape[0] == 0:
        alpha_sq[:] = alpha * alpha
        log_two_alpha_sq[:] = _LOG2 + 2.0 * math.log(alpha)
    else:
        for i in range(alpha_vec.shape[0]):
            ai = alpha_vec[i]
            alpha_sq[i] = ai * ai
            log_two_alpha_sq[i] = _LOG2 + 2.0 * math.log(ai)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _direction(X, G, H, w, g, cond, scaled, rhs, p):
    """The relative Newton direction p_rel = −(X diag(w/w_max) Xᵀ)⁻¹ g into ``p``.

    The Newton step is p_rel / w_max. Returns (safe, log w_max); not safe when
    κ₁(G) · max w / min w exceeds RANGE_LIMIT or a pivot fails (p is then
    garbage). G holds the Cholesky factor of XXᵀ, whose condition is ``cond``;
    H (n, n), ``scaled`` (d,) and ``rhs`` (n,) are scratch.
    """
    w_min, w_max = _range(w)
    if not cond * (w_max / w_min) <= RANGE_LIMIT:
        return False, 0.0
    log_scale = math.log(w_max)
    factor = G  # equal weights (λ = 0 with a scalar α): the Hessian is e^{log_scale} G
    if w_min < w_max:
        factor = H
        inverse = 1.0 / w_max
        for i in range(w.shape[0]):
            scaled[i] = w[i] * inverse
        _weighted_gram(X, scaled, H)
        if not _cholesky(H):
            return False, 0.0
    for j in range(g.shape[0]):
        rhs[j] = -g[j]
    _cholesky_solve(factor, rhs, p)
    return True, log_scale


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _cap_step(X, g, p, dz, log_scale, radius):
    """Scale p_rel in ``p`` to the step p: the full Newton step, or the one whose
    change of z = Xᵀλ is capped at ``radius``. Returns (capped, slope = gᵀp).

    ``dz`` (d,) is scratch.
    """
    _transpose_times(X, p, dz)
    dz_min, dz_max = _range(dz)
    dz_max = max(dz_max, -dz_min)
    log_length = -log_scale
    capped = dz_max > 0.0 and math.log(radius / dz_max) < log_length
    if capped:
        log_length = math.log(radius / dz_max)
    length = math.exp(log_length)
    slope = 0.0
    for j in range(p.shape[0]):
        p[j] *= length
        slope += g[j] * p[j]
    return capped, slope


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _line_search(X, y, alpha_sq, log_two_alpha_sq, lam, p, value, size, slope, g_norm, trial):
    """Backtrack (halving) from λ + p to the Armijo condition F(λ + tp) ≤ F(λ) + 1e-4 t gᵀp,
    or to a step whose change of F is below its rounding error 64ε ``size`` and
    that reduces ‖Xβ − y‖ below ``g_norm``.

    ``trial`` = (λ_t (n,), z_t, β_t, w_t, excess (d,), g_t (n,)) receives the
    accepted point. Returns (code, step, Σ 2α²(cosh z_t − 1)); code 0 when a step
    was accepted, else NEWTON_UNSAFE (|z| > 700: only the robust path can
    evaluate the terms) or NEWTON_LINE_SEARCH_FAILED.
    """
    lam_t, z_t, beta_t, w_t, excess, g_t = trial
    n = lam.shape[0]
    step = 1.0
    for _ in range(_MAX_BACKTRACKS):
        for j in range(n):
            lam_t[j] = lam[j] + step * p[j]
        outcome, total_t = _evaluate(
            X, lam_t, alpha_sq, log_two_alpha_sq, z_t, beta_t, w_t, excess
        )
        if outcome == _OUT_OF_RANGE:
            return NEWTON_UNSAFE, step, total_t
        trial_value = math.inf
        if outcome == _OK:
            linear_t = 0.0
            for j in range(n):
                linear_t += y[j] * lam_t[j]
            trial_value = total_t - linear_t
        if trial_value <= value + _ARMIJO * step * slope:
            return 0, step, total_t
        # Near the optimum the decrease drowns in rounding: accept on the gradient.
        if outcome == _OK and abs(trial_value - value) <= _ROUNDING * size:
            if _times_minus(X, beta_t, y, g_t) < g_norm:
                return 0, step, total_t
        step *= 0.5
    return NEWTON_LINE_SEARCH_FAILED, step, math.inf


@njit(cache=True, fastmath=FASTMATH)
def newton(X, y, alpha, alpha_vec, tol, max_iter, lam_out, beta_out):
    """Damped Newton on the hypentropy dual in λ-space, with Cholesky solves while safe.

    Parameters
    ----------
    X : (n, d) C-contiguous float64
    y : (n,) float64
    alpha : float, the scale when ``alpha_vec`` is empty
    alpha_vec : (d,) or (0,) float64, the per-coordinate scale; every α in [1e-100, 1e100]
    tol : float, stop when ‖Xβ − y‖ ≤ tol ‖y‖
    max_iter : int, Newton step budget
    lam_out : (n,) float64, the starting λ (replaced by 0 if it overflows) on entry,
        the final λ on exit (where the robust path is to continue from, if it is)
    beta_out : (d,) output, β = 2α² sinh(Xᵀλ) at the final λ (when the solve ends here)

    Returns
    -------
    (status, n_iter, radius, rounding_steps, reference_norm, primal, dual)
        The status code (``dlnsam.status.NEWTON_*``), the Newton steps taken, the
        state of the iteration (trust radius and stall detector) for the robust
        path to continue with, and the relative primal and dual residuals (NaN
        unless NEWTON_CONVERGED or NEWTON_MAX_ITER).

    Each step solves for the direction (:func:`_direction`), caps it at the trust
    radius (:func:`_cap_step`), which starts at 10, widens ×4 while it binds and
    a full step is taken, and shrinks with the accepted step length, and
    backtracks (:func:`_line_search`). Steps whose Newton decrement is below the
    rounding error of F count as rounding steps; more than
    HANDOVER_ROUNDING_STEPS of them hand over to the robust path, whose rounding
    floor can be lower.
    """
    n, d = X.shape
    nan = math.nan
    # All work arrays in three allocations.
    matrices = np.empty((2, n, n))
    G, H = matrices[0], matrices[1]
    rows_n = np.empty((9, n))
    lam, lam_t, g, g_t, p, rhs = rows_n[0], rows_n[1], rows_n[2], rows_n[3], rows_n[4], rows_n[5]
    rows_d = np.empty((10, d))
    alpha_sq, log_two_alpha_sq, dz, excess = rows_d[0], rows_d[1], rows_d[2], rows_d[9]
    z, beta, w, z_t, beta_t, w_t = rows_d[3], rows_d[4], rows_d[5], rows_d[6], rows_d[7], rows_d[8]
    # κ(XXᵀ), with G its Cholesky factor: the gate of the fast path.
    cond = _gram_condition(X, G, dz, rows_n[6], rows_n[7], rows_n[8])
    if not cond <= COND_LIMIT:
        return NEWTON_UNSAFE, 0, _TRUST_RADIUS, 0, math.inf, nan, nan
    _scales(alpha, alpha_vec, alpha_sq, log_two_alpha_sq)
    y_norm = 0.0
    for j in range(n):
        y_norm += y[j] * y[j]
    y_norm = math.sqrt(y_norm)

    lam[:] = lam_out
    outcome, total = _evaluate(X, lam, alpha_sq, log_two_alpha_sq, z, beta, w, excess)
    if outcome == _OVERFLOW:  # an overflowing warm start: fall back to λ = 0
        lam[:] = 0.0
        outcome, total = _evaluate(X, lam, alpha_sq, log_two_alpha_sq, z, beta, w, excess)
    if outcome != _OK:
        return NEWTON_UNSAFE, 0, _TRUST_RADIUS, 0, math.inf, nan, nan

    n_iter = 0
    radius = _TRUST_RADIUS
    rounding_steps, reference_norm = 0, math.inf
    status = 0
    while True:
        g_norm = _times_minus(X, beta, y, g)
        if g_norm <= tol * y_norm:
            status = NEWTON_CONVERGED
            break
        if n_iter >= max_iter:
            status = NEWTON_MAX_ITER
            break
        safe, log_scale = _direction(X, G, H, w, g, cond, dz, rhs, p)
        if not safe:
            status = NEWTON_UNSAFE
            break
        linear = 0.0
        for j in range(n):
            linear += y[j] * lam[j]
        value, size = total - linear, total + abs(linear)
        decrement_rel = 0.0
        for j in range(n):
            decrement_rel -= g[j] * p[j]
        if not decrement_rel > 0.0:
            status = NEWTON_LINE_SEARCH_FAILED
            break
        if size > 0 and math.log(decrement_rel) - log_scale <= math.log(_ROUNDING * size):
            if g_norm <= 0.5 * reference_norm:
                rounding_steps, reference_norm = 0, g_norm
            if rounding_steps >= HANDOVER_ROUNDING_STEPS:
                status = NEWTON_ROUNDING  # before counting this one: the robust path recounts it
                break
            rounding_steps += 1
        n_iter += 1
        capped, slope = _cap_step(X, g, p, dz, log_scale, radius)
        trial = (lam_t, z_t, beta_t, w_t, excess, g_t)
        status, step, total_t = _line_search(
            X, y, alpha_sq, log_two_alpha_sq, lam, p, value, size, slope, g_norm, trial
        )
        if status != 0:
            break
        # Far from the solution the cap binds step after step: widen it.
        if capped and step == 1.0:
            radius *= 4.0
        elif step < 1.0:
            radius = max(_TRUST_RADIUS, step * radius)
        lam, lam_t = lam_t, lam
        z, z_t = z_t, z
        beta, beta_t = beta_t, beta
        w, w_t = w_t, w
        total = total_t

    lam_out[:] = lam
    if status != NEWTON_CONVERGED and status != NEWTON_MAX_ITER:
        return status, n_iter, radius, rounding_steps, reference_norm, nan, nan
    beta_out[:] = beta
    if y_norm == 0.0:
        return status, n_iter, radius, rounding_steps, reference_norm, 0.0, 0.0
    dual = _dual_residual(X, G, alpha_sq, beta, z, p, rhs, dz)
    return status, n_iter, radius, rounding_steps, reference_norm, g_norm / y_norm, dual
