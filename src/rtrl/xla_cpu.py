"""Threefry-2x32 unrolled on XLA CPU: the same random numbers as JAX's, without a loop per call.

JAX lowers its default PRNG (Threefry-2x32, Salmon et al. 2011, "Parallel random numbers: as easy
as 1, 2, 3") on CPU as a rolled ``fori_loop`` of 5 iterations, to keep compile times short. Inside a
``lax.scan`` over environment steps that loop runs for every split and every draw: a rollout of
Real-Time PPO makes ~12 of them per step, and their loop overhead was ~30% of the rollout's time
(174 → 122 ms per 2048 steps on this 2-core machine, measured with benchmarks/real_time_ppo.py).
`unroll_threefry_on_cpu` registers the straight-line form of the same 20 rounds as the CPU lowering
of ``jax.extend.random.threefry2x32_p``. It computes exactly the same function, so every key, split
and sample is bit for bit what it was (tests/test_xla_cpu.py checks the published test vectors and a
NumPy reference); only the compiled code changes. `rtrl` calls it on import.

    x ← x + (k0, k1)
    for s = 1 … 5:  4 rounds  x0 ← x0 + x1; x1 ← rotl(x1, R) ⊕ x0   (R: 13 15 26 6 | 17 29 16 24, alternating)
                    x ← x + (k_{s mod 3}, k_{(s+1) mod 3} + s),   k2 = k0 ⊕ k1 ⊕ 0x1BD11BDA
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROTATIONS", "threefry2x32", "unroll_threefry_on_cpu"]

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_registered = False


def _rotate_left(xp, x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(xp, key0, key1, x0, x1):
    """The Threefry-2x32 block function (20 rounds) over uint32 arrays of the array module ``xp``
    (numpy for a reference, jax.numpy inside a lowering); returns the two output words."""
    ks = (key0, key1, key0 ^ key1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for s in range(1, 6):
        for r in ROTATIONS[(s - 1) % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(xp, x1, r) ^ x0
        x0 = x0 + ks[s % 3]
        x1 = x1 + ks[(s + 1) % 3] + np.uint32(s)
    return x0, x1


def unroll_threefry_on_cpu() -> bool:
    """Register the unrolled lowering for the CPU platform (once); False where this JAX has no such hook."""
    global _registered
    if _registered:
        return True
    try:
        import jax.numpy as jnp
        from jax.extend.random import threefry2x32_p
        from jax.interpreters import mlir
    except ImportError:  # another JAX layout: keep JAX's own (correct, slower) lowering
        return False

    def lowering(key0, key1, x0, x1):
        return list(threefry2x32(jnp, key0, key1, x0, x1))

    mlir.register_lowering(threefry2x32_p, mlir.lower_fun(lowering, multiple_results=True), platform="cpu")
    _registered = True
    return True
