"""`Cell.replay`: one step from a stored carry for a loss, equal to `Cell.step` in value and gradient.

The RTUs' hand trace rule provides the optional fused `TraceRule.replay` (the factored trace
contraction Real-Time PPO's minibatches use); every other cell and rule falls back to `step`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl.gradcheck import perturb
from rtrl.cells.rtu import RTUTraceRule

# every registered cell with each trace rule it accepts, and BPTT
CASES = [(name, gradient, traces) for name in rtrl.cells.names()
         for gradient, traces in [("bptt", None)] + [("rtrl", t) for t in rtrl.cells.TRACES]
         if traces is None or traces != "hand" or rtrl.cells.definition(name).hand_traces
         if traces != "elementwise" or rtrl.cells.definition(name).elementwise]


def test_the_rtu_rule_provides_the_fused_replay():
    assert callable(getattr(RTUTraceRule, "replay", None))
    cell = rtrl.cells.make("rtu-linear", hidden_size=3)
    assert isinstance(cell._trace_rule(), RTUTraceRule)


@pytest.mark.parametrize("name,gradient,traces", CASES)
def test_replay_equals_the_cell_step(name, gradient, traces):
    """Same output and same (RTRL or BPTT) parameter and input gradients as cell.step, resets included,
    from a carry with non-zero state and traces."""
    cell = rtrl.cells.make(name, hidden_size=4, gradient=gradient, traces=traces, dtype="float64")
    key = jax.random.split(jax.random.PRNGKey(3), 4)
    params = cell.init(key[0], 5)
    batch = 6
    xs = jax.random.normal(key[1], (4, batch, 5), jnp.float64)
    carry = jax.jit(lambda p, xs: jax.lax.scan(
        lambda c, x: (cell.step(p, c, x, jnp.zeros(batch, bool))[0], None), cell.initial_carry(p, batch), xs)[0])(
        params, xs)
    assert all(float(jnp.max(jnp.abs(a))) > 0 for a in jax.tree.leaves(carry))
    x = jax.random.normal(key[2], (batch, 5), jnp.float64)
    first = jnp.array([False, True, False, False, True, False])
    w = jax.random.normal(key[3], (batch, cell.output_size), jnp.float64)

    def loss_step(p, x):
        return jnp.sum(jnp.sin(cell.step(p, carry, x, first)[1]) * w)

    def loss_replay(p, x):
        return jnp.sum(jnp.sin(cell.replay(p, carry, x, first)) * w)

    (l1, g1), (l2, g2) = [jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(params, x)
                          for f in (loss_step, loss_replay)]
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["rtu-linear", "rtu-nonlinear"])
def test_fused_replay_gradient_equals_bptt_from_the_episode_start(name):
    """The fused replay's parameter gradient at step t is the BPTT gradient through all steps since
    the last reset (exact RTRL), with a reset inside the replayed history."""
    rtrl_cell = rtrl.cells.make(name, hidden_size=3, gradient="rtrl", dtype="float64")
    bptt_cell = rtrl.cells.make(name, hidden_size=3, gradient="bptt", dtype="float64")
    key = jax.random.split(jax.random.PRNGKey(5), 3)
    params = perturb(rtrl_cell.init(key[0], 2), key[1])
    xs = jax.random.normal(key[2], (6, 2, 2), jnp.float64)
    resets = jnp.zeros((6, 2), bool).at[0].set(True).at[3, 0].set(True)  # sequence 0 restarts at step 3
    carry, _ = rtrl.grad.unroll(rtrl_cell, params, rtrl_cell.initial_carry(params, 2), xs[:5], resets[:5])

    def loss_replay(p):
        return jnp.sum(jnp.sin(rtrl_cell.replay(p, carry, xs[5], resets[5])))

    def loss_bptt(p):
        _, ys = rtrl.grad.unroll(bptt_cell, p, bptt_cell.initial_carry(p, 2), xs, resets)
        return jnp.sum(jnp.sin(ys[5]))

    g_replay, g_bptt = jax.grad(loss_replay)(params), jax.grad(loss_bptt)(params)
    for k in params:
        np.testing.assert_allclose(g_replay[k], g_bptt[k], rtol=1e-10, atol=1e-12)
