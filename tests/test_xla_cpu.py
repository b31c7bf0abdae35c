"""The unrolled Threefry-2x32 CPU lowering (rtrl.xla_cpu) computes exactly JAX's PRNG: the published test vectors,
a NumPy reference over many counters, and JAX's own keys, splits and samples inside jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rtrl  # noqa: F401  (registers the lowering on import)
from rtrl.xla_cpu import threefry2x32, unroll_threefry_on_cpu

# Known-answer tests of Random123 (Salmon et al. 2011) for Threefry-2x32 with 20 rounds.
VECTORS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _hash(key, count):
    k = [np.uint32(v) for v in key]
    return jax.jit(lambda x0, x1: jax.extend.random.threefry2x32_p.bind(
        jnp.uint32(k[0]), jnp.uint32(k[1]), x0, x1))(jnp.asarray(count[0], jnp.uint32), jnp.asarray(count[1], jnp.uint32))


def test_registered_and_matches_the_published_vectors():
    assert unroll_threefry_on_cpu()
    for key, count, expected in VECTORS:
        out = _hash(key, count)
        assert (int(out[0]), int(out[1])) == expected
        with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as intended
            ref = threefry2x32(np, np.uint32(key[0]), np.uint32(key[1]), np.array([count[0]], np.uint32),
                               np.array([count[1]], np.uint32))
        assert (int(ref[0][0]), int(ref[1][0])) == expected


def test_jit_equals_the_numpy_reference_on_many_counters():
    rng = np.random.default_rng(0)
    x0, x1 = (rng.integers(0, 2**32, 1000, dtype=np.uint32) for _ in range(2))
    key = (np.uint32(0xDEADBEEF), np.uint32(12345))
    with np.errstate(over="ignore"):
        ref = threefry2x32(np, key[0], key[1], x0, x1)
    out = jax.jit(lambda a, b: jax.extend.random.threefry2x32_p.bind(jnp.uint32(key[0]), jnp.uint32(key[1]), a, b))(
        x0, x1)
    np.testing.assert_array_equal(np.asarray(out[0]), ref[0])
    np.testing.assert_array_equal(np.asarray(out[1]), ref[1])


def test_keys_and_samples_are_the_documented_ones():
    # jax.random's own documented values (the same before and after the lowering is replaced)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.random.split)(key)),
                                  np.array([[1797259609, 2579123966], [928981903, 3453687069]], np.uint32))
    bits = jax.jit(lambda k: jax.random.bits(k, (3,), jnp.uint32))(jax.random.PRNGKey(42))
    with np.errstate(over="ignore"):
        ref = _bits_reference(42, 3)
    np.testing.assert_array_equal(np.asarray(bits), ref)


def _bits_reference(seed: int, n: int) -> np.ndarray:
    """jax.random.bits(PRNGKey(seed), (n,)) for uint32 from the NumPy reference (partitionable threefry: the
    counter of element i is (0, i))."""
    key = (np.uint32(0), np.uint32(seed))
    hi, lo = threefry2x32(np, key[0], key[1], np.zeros(n, np.uint32), np.arange(n, dtype=np.uint32))
    return hi ^ lo


def test_the_compiled_split_has_no_loop():
    # JAX's own CPU lowering is a rolled 5-iteration while loop; ours is straight-line code
    hlo = jax.jit(jax.random.split).lower(jax.random.PRNGKey(0)).compile().as_text()
    assert "while" not in hlo
