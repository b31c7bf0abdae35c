"""The TD(λ) learners against references computed independently (float64).

* the update of every step against TD(λ) written out by hand, with the value gradient taken by
  `jax.grad` through the unrolled forward of a ``gradient="bptt"`` cell (no RTRL, no windows);
* with frozen parameters: RTRL's eligibility trace equals the BPTT gradient of the discounted sum
  of predictions, for every registered cell; T-BPTT with T ≥ the stream length equals RTRL.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from td_helpers import ALL_CELLS, perturb_params, random_stream
from jax.flatten_util import ravel_pytree

import rtrl
from rtrl.learners import TDConfig, apply_head, make_learner

OBS = 3
FROZEN = optax.set_to_zero()  # one instance, so equal learners share their compiled code


def _bptt_value(cell, params_per_step, observations, resets):
    """V_t of the last step when step k of the stream runs with params_per_step[k] (a Python loop)."""
    carry = cell.initial_carry(params_per_step[0]["cell"], 1)
    y = None
    for k in range(observations.shape[0]):
        carry, y = cell.step(params_per_step[k]["cell"], carry, observations[k][None], resets[k][None])
    return apply_head(params_per_step[-1]["head"], y[0])


def _hand_td_lambda(config, theta_0, observations, resets, learner):
    """Semi-gradient TD(λ) with SGD, step by step, as the td_lambda docstring writes it.

    g_t is the gradient of V_t w.r.t. a perturbation ε added to the parameters of every step since
    the last reset: for RTRL step k runs with θ_k + ε (what the traces accumulate); for T-BPTT
    with a window covering the whole stream every step is re-run with θ_t + ε.
    """
    cell = rtrl.cells.make(config.cell, hidden_size=config.hidden_size, gradient="bptt", dtype="float64",
                           **dict(config.cell_options))
    alpha, gamma, lam = config.step_size, config.gamma, config.lambda_
    thetas, predictions = [theta_0], []
    z = jax.tree.map(jnp.zeros_like, theta_0)
    start = 0
    for t in range(observations.shape[0]):
        reset = bool(resets[t]) or t == 0
        start = t if reset else start
        theta_t = thetas[t]
        segment = slice(start, t + 1)
        base = thetas[segment] if learner == "rtrl" else [theta_t] * (t + 1 - start)

        def value(eps, base=base, segment=segment):
            shifted = [jax.tree.map(jnp.add, p, eps) for p in base]
            return _bptt_value(cell, shifted, observations[segment], resets[segment].at[0].set(True))

        v_t, g_t = jax.value_and_grad(value)(jax.tree.map(jnp.zeros_like, theta_t))
        if reset:
            theta_next = theta_t
            z = g_t
        else:
            delta = observations[t, 0] + gamma * v_t - predictions[-1]
            theta_next = jax.tree.map(lambda p, e: p + alpha * delta * e, theta_t, z)
            z = jax.tree.map(lambda e, g: gamma * lam * e + g, z, g_t)
        predictions.append(v_t)
        thetas.append(theta_next)
    return jnp.stack(predictions), thetas[-1], z


@pytest.mark.parametrize("lambda_", [0.0, 0.7])
@pytest.mark.parametrize("learner", ["rtrl", "tbptt"])
def test_update_equals_td_lambda_by_hand(x64, learner, lambda_):
    """λ = 0 is TD(0); λ = 0.7 checks the trace decay. A reset mid-stream clears z and skips δ."""
    steps = 7
    config = TDConfig(cell="rtu-nonlinear", hidden_size=3, learner=learner,
                      truncation=steps if learner == "tbptt" else None, gamma=0.8, lambda_=lambda_,
                      optimizer="sgd", step_size=0.3, dtype="float64", cell_options={"activation": "tanh"})
    td = make_learner(config, OBS)
    state = td.init(jax.random.PRNGKey(0))
    state = state._replace(params=perturb_params(state.params, jax.random.PRNGKey(1)))
    observations = random_stream(jax.random.PRNGKey(2), steps, OBS, jnp.float64)
    resets = jnp.zeros(steps, bool).at[4].set(True)

    theta_0 = state.params
    state, predictions = td.run(state, observations, resets)
    expected_v, expected_theta, expected_z = _hand_td_lambda(config, theta_0, observations, resets, learner)

    np.testing.assert_allclose(predictions, expected_v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ravel_pytree(state.params)[0], ravel_pytree(expected_theta)[0], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ravel_pytree(state.eligibility)[0], ravel_pytree(expected_z)[0], rtol=1e-10,
                               atol=1e-12)
    assert not np.allclose(ravel_pytree(state.params)[0], ravel_pytree(theta_0)[0])  # it did learn


def _frozen(config, steps, *, seed=0):
    """Run ``config`` with frozen parameters (a random head) over a random stream."""
    td = make_learner(config, OBS, optimizer=FROZEN)
    state = td.init(jax.random.PRNGKey(seed))
    state = state._replace(params=perturb_params(state.params, jax.random.PRNGKey(seed + 1), 0.1))
    observations = random_stream(jax.random.PRNGKey(seed + 2), steps, OBS, jnp.float64)
    final, predictions = td.run(state, observations)
    return td, state.params, observations, final, predictions


@pytest.mark.parametrize("name", ALL_CELLS)
def test_rtrl_trace_equals_bptt_gradient(x64, name):
    """z_{T-1} = Σ_t (γλ)^{T-1-t} ∇V_t is the BPTT gradient of Σ_t (γλ)^{T-1-t} V_t (θ frozen)."""
    steps, gamma, lambda_ = 25, 0.9, 1.0
    config = TDConfig(cell=name, hidden_size=3, gamma=gamma, lambda_=lambda_, dtype="float64")
    td, params, observations, final, predictions = _frozen(config, steps)
    cell = rtrl.cells.make(name, hidden_size=3, gradient="bptt", dtype="float64")
    resets = jnp.zeros(steps, bool).at[0].set(True)

    def discounted_sum(p):
        _, ys = rtrl.grad.unroll(cell, p["cell"], cell.initial_carry(p["cell"], 1), observations[:, None],
                                 resets[:, None])
        values = jax.vmap(apply_head, (None, 0))(p["head"], ys[:, 0])
        weights = (gamma * lambda_) ** jnp.arange(steps - 1, -1, -1)
        return jnp.sum(weights * values), values

    (_, values), grad = jax.value_and_grad(discounted_sum, has_aux=True)(params)
    np.testing.assert_allclose(predictions, values, rtol=1e-12, atol=1e-12)
    flat_z, flat_grad = ravel_pytree(final.eligibility)[0], ravel_pytree(grad)[0]
    assert float(jnp.max(jnp.abs(flat_grad))) > 1e-3
    np.testing.assert_allclose(flat_z, flat_grad, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(flat_grad))))
    np.testing.assert_array_equal(ravel_pytree(final.params)[0], ravel_pytree(params)[0])  # frozen


@pytest.mark.parametrize("name", ["rtu-linear", "gru"])
def test_tbptt_with_a_long_window_equals_rtrl(x64, name):
    """With T ≥ the stream length nothing is truncated: T-BPTT = RTRL (θ frozen, λ < 1); a short
    window gives the same predictions but a different (truncated) trace."""
    steps = 12
    common = dict(cell=name, hidden_size=3, gamma=0.9, lambda_=0.8, dtype="float64")
    _, _, _, rtrl_final, rtrl_v = _frozen(TDConfig(learner="rtrl", **common), steps)
    for truncation in (steps + 3, 2):
        _, _, _, final, v = _frozen(TDConfig(learner="tbptt", truncation=truncation, **common), steps)
        np.testing.assert_allclose(v, rtrl_v, rtol=1e-12, atol=1e-12)
        z, z_rtrl = ravel_pytree(final.eligibility)[0], ravel_pytree(rtrl_final.eligibility)[0]
        if truncation >= steps:
            np.testing.assert_allclose(z, z_rtrl, rtol=1e-9, atol=1e-12)
        else:
            assert not np.allclose(z, z_rtrl)


@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_rtrl_trace_with_a_projection_head_equals_bptt(x64, activation):
    """The projection variants: z = f(y P + c) between the cell and the value head; the RTRL trace
    still equals the BPTT gradient (θ frozen) and the projection is really applied."""
    steps, gamma = 20, 0.9
    config = TDConfig(cell="rtu-linear", hidden_size=3, gamma=gamma, lambda_=1.0, dtype="float64", projection=4,
                      projection_activation=activation, cell_options={"activation": "identity"})
    td, params, observations, final, predictions = _frozen(config, steps)
    assert params["head"]["projection"]["kernel"].shape == (6, 4)
    cell = rtrl.cells.make("rtu-linear", hidden_size=3, gradient="bptt", dtype="float64", activation="identity")
    resets = jnp.zeros(steps, bool).at[0].set(True)
    f = {"relu": jax.nn.relu, "identity": lambda z: z}[activation]

    def discounted_sum(p):
        _, ys = rtrl.grad.unroll(cell, p["cell"], cell.initial_carry(p["cell"], 1), observations[:, None],
                                 resets[:, None])
        z = f(ys[:, 0] @ p["head"]["projection"]["kernel"] + p["head"]["projection"]["bias"])
        values = z @ p["head"]["w"] + p["head"]["b"]
        return jnp.sum(gamma ** jnp.arange(steps - 1, -1, -1) * values), values

    (_, values), grad = jax.value_and_grad(discounted_sum, has_aux=True)(params)
    np.testing.assert_allclose(predictions, values, rtol=1e-12, atol=1e-12)
    flat_grad = ravel_pytree(grad)[0]
    np.testing.assert_allclose(ravel_pytree(final.eligibility)[0], flat_grad, rtol=1e-9,
                               atol=1e-9 * float(jnp.max(jnp.abs(flat_grad))))
