"""`rtrl.cells.initializers.orthogonal`: jax's orthogonal initializer, value for value, that does not hang
XLA's CPU thread pool when vmapped (the batched-LAPACK-QR deadlock of jaxlib 0.10.2)."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.cells.initializers import orthogonal


@pytest.mark.parametrize(("shape", "column_axis"), [((5, 3), -1), ((3, 5), -1), ((4, 4), -1), ((3, 3, 2, 4), -1),
                                                    ((6, 2), 0)])
def test_the_same_values_as_jax_alone_and_under_vmap(shape, column_axis):
    ours, theirs = orthogonal(1.7, column_axis), jax.nn.initializers.orthogonal(1.7, column_axis)
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(ours(key, shape, jnp.float32), theirs(key, shape, jnp.float32))
    keys = jax.random.split(key, 6).reshape(2, 3, 2)
    nested = jax.jit(jax.vmap(jax.vmap(lambda k: ours(k, shape, jnp.float32))))(keys)
    assert nested.shape == (2, 3) + shape
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(nested[i, j], theirs(keys[i, j], shape, jnp.float32))
    # a key shared by every member (vmapped over something else) gives one draw for all
    shared = jax.vmap(lambda k, x: ours(k, shape, jnp.float32) * x, in_axes=(None, 0))(key, jnp.ones(2))
    np.testing.assert_array_equal(shared[0], shared[1])


HANG_PROBE = """
import sys
import jax, jax.numpy as jnp
from rtrl.experiments.cpu_threads import limit_xla_cpu_threads
limit_xla_cpu_threads(2)  # the pool of a 2-CPU machine, whatever this one has
from rtrl.cells.initializers import orthogonal
init = orthogonal() if sys.argv[1] == "rtrl" else jax.nn.initializers.orthogonal()
# eight independent kernels, vmapped over four seeds: eight batched QRs that XLA may run side by side
# (64 x 64: jaxlib ran a batch of 32 x 32 ones in place, without the pool)
draw = jax.jit(jax.vmap(lambda key: [init(k, (64, 64), jnp.float32) for k in jax.random.split(key, 8)]))
for i in range(200):
    jax.block_until_ready(draw(jax.random.split(jax.random.PRNGKey(i), 4)))
print("finished")
"""


def _probe(which: str, timeout: float) -> bool:
    """Whether the probe finished within ``timeout`` seconds (False: it hung and was killed)."""
    try:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(HANG_PROBE), which], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    assert out.returncode == 0, out.stderr
    return "finished" in out.stdout


def test_vmapped_kernels_do_not_hang_xlas_cpu_pool():
    """200 vmapped draws of eight kernels on a 2-thread pool finish; with jax's own initializer the same
    probe hung every time on jaxlib 0.10.2 (checked by the slow test below)."""
    assert _probe("rtrl", timeout=120), "vmapped orthogonal initialisation hung XLA's CPU thread pool"


@pytest.mark.slow
def test_the_probe_sees_the_hang_with_jax_initializer():
    """The probe bites: jax's orthogonal initializer hangs it (jaxlib 0.10.2; a later jaxlib may not)."""
    if jax.__version__ != "0.10.2":
        pytest.skip("the deadlock was observed on jax 0.10.2")
    assert not _probe("jax", timeout=30)
