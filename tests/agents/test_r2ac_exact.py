"""Exactness of the R2AC learner (rtrl.agents.r2ac), in float64.

The learner's pieces (`forward`, `targets`, `rtrl_gradient`, `tbptt_gradient`) are driven on a hand-made
segment of 3 environments whose episodes start before the segment (env 0 at the stream's start, env 2
two steps later), exactly at its start (env 1), and end inside it (a truncation in env 0, a termination
in env 1, a truncation at the segment's last step in env 2). The references are written here,
independently of the agent: the network unrolled with ``gradient="bptt"`` cells from the episodes'
starts (the whole stream, before and in the segment), and IMPALA's loss written out per step.

* targets: V(x_t), the bootstrap values (V(final_obs) at truncations, V(x_M)) and V-trace's inputs
  (clipped rewards, discounts, log-ratios, episode ends) equal the reference's;
* RTRL (discrete actions; one case with a Gaussian policy): the learner's gradient equals ``jax.grad`` of the segment loss (targets constant) through the
  forward unrolled from the EPISODE START, for every parameter (no encoder), or for all but the
  encoder (which gets the stem gradient under an RTRL cell: tests/agents/test_r2ac_stem.py); it differs from the T-BPTT(M)
  gradient, so the actor's start traces are used;
* T-BPTT: the gradient equals ``jax.grad`` through the segment alone from the start state held
  constant, and equals the RTRL gradient when every episode starts at the segment's start.

Planted bugs (checked by hand, see the report of issue 12): the learner starting from zero traces makes
`test_rtrl_gradient_is_bptt_from_episode_start` fail (and equals T-BPTT); the actor storing the carry
after step 0 as the start carry makes the actor tests of tests/agents/test_r2ac.py fail.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # as tests/conftest.py: the configs below are float64

from rtrl.agents import vtrace
from rtrl.agents.r2ac import (
    forward,
    rtrl_gradient,
    targets,
    tbptt_gradient,
)
from rtrl.agents.network import ActorCritic
from rtrl.agents.r2ac_config import R2ACConfig

from _r2ac_streams import ACTIONS, ENVS, M, PRE, Stream

EXACT = 1e-9  # max relative error where exact (measured ~1e-15)
DIFFERENT = 1e-3  # min relative difference where the gradients must differ
OBS = 4


def config(**overrides: Any) -> R2ACConfig:
    base: dict[str, Any] = {"num_envs": ENVS, "unroll": M, "hidden_size": 3, "head": (4,), "dtype": "float64",
                            "activation": "tanh", "entropy_coef": 0.05}
    base.update(overrides)
    return R2ACConfig(**base)


def unrolled(net: Any, params: Any, stream: Stream, start: int, start_carry: Any = None) -> dict[str, jax.Array]:
    """The reference forward: ``net`` (BPTT cells) stepped from ``start_carry`` (zero if None) at stream step
    ``start`` to the end, in Python; per segment step: value, log π(a_t), entropy, V(final_obs_t) and the
    bootstrap V(x_M), all differentiable in ``params``."""
    bptt = net.with_gradient("bptt")
    carry = bptt.initial_carry(params, ENVS) if start_carry is None else start_carry
    out: dict[str, list] = {"value": [], "log_prob": [], "entropy": [], "final_value": []}
    for t in range(start, PRE + M):
        carry, policy, value = bptt.step(params, carry, jnp.asarray(stream.obs[t]), jnp.asarray(stream.first[t]))
        if t >= PRE:
            out["value"].append(value)
            out["log_prob"].append(policy.log_prob(jnp.asarray(stream.action[t])))
            out["entropy"].append(policy.entropy())
            no_reset = jnp.zeros((ENVS,), bool)
            out["final_value"].append(bptt.step(params, carry, jnp.asarray(stream.final_obs[t]), no_reset)[2])
    result = {k: jnp.stack(v) for k, v in out.items()}
    result["last_value"] = bptt.step(params, carry, jnp.asarray(stream.last_obs), jnp.asarray(stream.last_first))[2]
    return result


def impala_loss(ref: dict[str, jax.Array], tg: vtrace.VTraceOutput, cfg: R2ACConfig) -> jax.Array:
    """Σ_t Σ_envs −A_t·log π(a_t|x_t) + c_V·½(v_t − V(x_t))² − c_H·H_t, targets constant."""
    return jnp.sum(-tg.pg_advantage_t * ref["log_prob"] + cfg.baseline_coef * 0.5 * (tg.vs_t - ref["value"]) ** 2
                   - cfg.entropy_coef * ref["entropy"])


def relative_error(got: Any, want: Any, skip: str = "") -> float:
    """max |got − want| / max |want| over all leaves (those whose path contains ``skip`` left out)."""
    diff, scale = 0.0, 0.0
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
        if skip and skip in jax.tree_util.keystr(path):
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        diff, scale = max(diff, float(np.max(np.abs(a - b)))), max(scale, float(np.max(np.abs(b))))
    return diff / scale


def setup(cell: str = "elstm", encoder: tuple[int, ...] = (), seed: int = 0, all_start_at_segment: bool = False,
          discrete: bool = True):
    cfg = config(cell=cell, encoder=encoder)
    net = ActorCritic.from_config(cfg, OBS, ACTIONS, discrete)
    params = net.init(jax.random.PRNGKey(seed))
    stream = Stream(seed, all_start_at_segment, discrete)
    return cfg, net, params, stream, stream.segment(net, params)


# --------------------------------------------------------------------------------------------


def test_targets_come_from_the_values_unrolled_from_the_episode_start():
    cfg, net, params, stream, segment = setup()
    fwd = forward(net, params, segment)
    ref = unrolled(net, params, stream, 0)
    np.testing.assert_allclose(fwd.value, ref["value"], rtol=EXACT, atol=1e-12)
    np.testing.assert_allclose(fwd.log_prob, ref["log_prob"], rtol=EXACT, atol=1e-12)
    # v_{t+1} from step t's episode: V(x_{t+1}) (V(x_M) after the last step), V(final_obs) where truncated
    next_value = jnp.concatenate([ref["value"][1:], ref["last_value"][None]])
    seg = slice(PRE, PRE + M)
    want_tp1 = np.where(stream.truncated[seg], ref["final_value"], next_value)
    live = ~stream.terminated[seg]  # where terminated the bootstrap is unused (discount 0)
    np.testing.assert_allclose(np.asarray(fwd.value_tp1)[live], want_tp1[live], rtol=EXACT, atol=1e-12)
    # V-trace's inputs: clipped rewards, γ(1 − terminated), log π − log μ, the episode ends
    tg = targets(cfg, segment, fwd)
    want = vtrace.vtrace(ref["value"], jnp.asarray(want_tp1), jnp.clip(jnp.asarray(stream.reward[seg]), -1, 1),
                         cfg.gamma * (1.0 - jnp.asarray(stream.terminated[seg], jnp.float64)),
                         ref["log_prob"] - segment.behaviour_log_prob, done_t=jnp.asarray(stream.done[seg]))
    for got, expected in zip(tg, want):
        np.testing.assert_allclose(got, expected, rtol=EXACT, atol=1e-12)
    assert 0.0 < float(jnp.mean(tg.rho_t < 1.0)) < 1.0  # some ratios clipped, some not


@pytest.mark.parametrize("cell,encoder,discrete", [("elstm", (), True), ("gru", (), True),
                                                   ("rtu-linear", (4,), True), ("lru", (), False)])
def test_rtrl_gradient_is_bptt_from_episode_start(cell, encoder, discrete):
    cfg, net, params, stream, segment = setup(cell, encoder, discrete=discrete)
    tg = targets(cfg, segment, forward(net, params, segment))
    grads, _ = rtrl_gradient(net, cfg, params, segment, tg)
    want = jax.jit(jax.grad(lambda p: impala_loss(unrolled(net, p, stream, 0), tg, cfg)))(params)
    # an encoder under an RTRL cell gets the stem gradient (test_r2ac_stem.py): compare the rest
    skip = "encoder" if encoder else ""
    assert relative_error(grads, want, skip) < EXACT
    # T-BPTT(M) from the start state held constant: a different gradient (envs 0 and 2 began before the segment)
    start_state = net.with_gradient("bptt").initial_carry(params, ENVS)._replace(state=segment.start_carry.state)
    truncated = jax.jit(jax.grad(lambda p: impala_loss(unrolled(net, p, stream, PRE, start_state), tg, cfg)))(
        params)
    assert relative_error(grads["cell"], truncated["cell"]) > DIFFERENT


def test_tbptt_gradient_is_bptt_through_the_segment_from_a_constant_start():
    cfg, net, params, stream, _ = setup()
    cfg_t = config(gradient="tbptt")
    net_t = ActorCritic.from_config(cfg_t, OBS, ACTIONS, True)
    segment = stream.segment(net_t, params)  # the actor's carry without traces
    grads, _, tg, _ = tbptt_gradient(net_t, cfg_t, params, segment)
    want = jax.jit(jax.grad(lambda p: impala_loss(unrolled(net_t, p, stream, PRE, segment.start_carry), tg,
                                                   cfg_t)))(params)
    assert relative_error(grads, want) < EXACT
    # the targets it used are the RTRL learner's (the same forward)
    rtrl_segment = stream.segment(net, params)
    want_tg = targets(cfg, rtrl_segment, forward(net, params, rtrl_segment))
    for got, expected in zip(tg, want_tg):
        np.testing.assert_allclose(got, expected, rtol=EXACT, atol=1e-12)


def test_rtrl_equals_tbptt_when_every_episode_starts_at_the_segment():
    cfg, net, params, stream, segment = setup(all_start_at_segment=True)
    tg = targets(cfg, segment, forward(net, params, segment))
    grads, _ = rtrl_gradient(net, cfg, params, segment, tg)
    cfg_t = config(gradient="tbptt")
    net_t = ActorCritic.from_config(cfg_t, OBS, ACTIONS, True)
    truncated, *_ = tbptt_gradient(net_t, cfg_t, params, stream.segment(net_t, params))
    assert relative_error(grads, truncated) < EXACT


def test_feed_forward_gradient_is_the_sum_of_per_step_gradients():
    cfg = config(gradient="none", head=(4,), encoder=(5,))
    net = ActorCritic.from_config(cfg, OBS, ACTIONS, True)
    params = net.init(jax.random.PRNGKey(1))
    stream = Stream(1)
    segment = stream.segment(net, params)
    grads, _, tg, _ = tbptt_gradient(net, cfg, params, segment)
    assert segment.start_carry == ()

    def loss(p):
        z = net.step(p, (), segment.obs.reshape(M * ENVS, OBS), segment.first.reshape(-1))
        _, policy, value = z
        ref = {"value": value.reshape(M, ENVS), "log_prob": policy.log_prob(segment.action.reshape(-1)).reshape(M, ENVS),
               "entropy": policy.entropy().reshape(M, ENVS)}
        return impala_loss(ref, tg, cfg)

    assert relative_error(grads, jax.grad(loss)(params)) < EXACT
