"""Exactness and semantics of the streaming agents (stream AC(λ), stream Q(λ)), in float64.

Every check drives the agent's own step, `StreamAgent.learn_then_act`, with hand-made `Transition`s
(no environment steps), and compares with references built independently of the streaming core:

* gradients: the per-step g_t the rule hands the core (recorded by a spy around ``rule.gradients``)
  against ``jax.grad`` through the unrolled stream of the same network built with ``gradient="bptt"``
  cells (`StreamConfig(gradient="tbptt")`), same parameters, episode starts inside the stream. The
  step size is 1e-300 there, so the parameters stay put (to 1e-300) and the unrolled reference
  sees the parameters the agent used at every step;
* eligibility traces, ObGD and Adam: the formulas of online_agents.md written out here;
* resets and bootstraps: the eligibility traces, the RTRL traces, Q(λ)'s cut, V(final_obs).

Planted bugs are applied through the public `StreamRule` (a wrapper around ``rule.gradients``
that shifts the carry, drops the reset, bootstraps from the reset observation or ignores
``terminated``) and must make the corresponding check fail: each such test keeps its plant.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # as tests/conftest.py: the configs below are float64

import rtrl
from rtrl.agents import StreamConfig
from rtrl.agents.stream import StreamAgent
from rtrl.agents.stream_network import StreamActorCritic
from rtrl.agents.stream_rule import StreamRule, Transition

EXACT = 1e-6  # max relative error of gradients that must equal their reference (measured ~1e-14)
DIFFERENT = 1e-3  # min relative difference where a gradient must differ (a planted bug, T-BPTT(1))
ENV = "jax/RepeatPreviousEasy"  # observations of size 4, 4 actions; never stepped here
OBS = 4
FROZEN = 1e-300  # a step size that leaves float64 parameters where they are
CELLS = ("rtu-linear", "rtu-nonlinear", "lru", "elstm", "gru")  # four element-wise RTRL cells, one dense

# The stream of the gradient checks: 32 steps, episodes ending at 9 (truncated), 20 (terminated) and
# 21 (truncated: a one-step episode), so episode starts at 0, 10, 21, 22.
STEPS = 32
TRUNCATED = (9, 21)
TERMINATED = (20,)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def config(**overrides: Any) -> StreamConfig:
    """Tiny float64 stream config: dense initialisation (sparsity 0.9 of a 4-wide layer would zero
    every weight and make the gradients trivially zero), LayerNorm and LeakyReLU as by default."""
    base: dict[str, Any] = {"hidden_size": 3, "head": (4,), "dtype": "float64", "sparsity": 0.0, "entropy_coef": 0.0}
    base.update(overrides)
    return StreamConfig(**base)


def make_agent(cfg: StreamConfig, rule_wrapper: Callable[[StreamRule], StreamRule] | None = None,
               network: Any = None) -> StreamAgent:
    agent = rtrl.agents.make(cfg, rtrl.envs.make(ENV))
    changes = {}
    if rule_wrapper is not None:
        changes["rule"] = rule_wrapper(agent.rule)
    if network is not None:
        changes["network"] = network
    return dataclasses.replace(agent, **changes) if changes else agent


def recording(records: list) -> Callable[[StreamRule], StreamRule]:
    """A rule wrapper that appends every step's (δ_t, g_t) to ``records`` and changes nothing."""

    def wrap(rule: StreamRule) -> StreamRule:
        def gradients(*args):
            g = rule.gradients(*args)
            jax.debug.callback(lambda d, gr: records.append((np.asarray(d), jax.tree.map(np.asarray, gr))),
                               g.delta, g.grads, ordered=True)
            return g

        return rule._replace(gradients=gradients)

    return wrap


def chain(*wrappers):
    """Rule wrappers applied innermost first."""

    def wrap(rule):
        for w in wrappers:
            rule = w(rule)
        return rule

    return wrap


def stream(seed: int, steps: int = STEPS, truncated=TRUNCATED, terminated=TERMINATED):
    """(obs (T, 1, D), first (T,), transitions stacked over T): observations on a float32 grid (the
    agent keeps obs in float32), a reset observation after every done and a different final_obs."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1.0, 1.0, (steps + 1, 1, OBS)).astype(np.float32).astype(np.float64)
    last = rng.uniform(-1.0, 1.0, (steps, 1, OBS)).astype(np.float32).astype(np.float64)
    done = np.zeros((steps, 1), bool)
    term = np.zeros((steps, 1), bool)
    done[list(truncated) + list(terminated)] = True
    term[list(terminated)] = True
    reward = rng.normal(size=(steps, 1))
    final_obs = np.where(done[..., None], last, obs[1:])
    transitions = Transition(jnp.asarray(reward), jnp.asarray(obs[1:]), jnp.asarray(done), jnp.asarray(term),
                             jnp.asarray(final_obs), {})
    first = np.concatenate([[True], done[:-1, 0]])
    return jnp.asarray(obs[:steps]), jnp.asarray(first), transitions


def start(agent: StreamAgent, obs0: jax.Array):
    """An initial state (parameters, zero traces, a fresh carry) at observation ``obs0``, an episode
    start, with A_0 = 0. `StreamAgent.init_shapes_state` rather than ``init``: no environment reset
    and no acting, which compile many small programs."""
    state = agent.init_shapes_state()
    obs = jnp.asarray(obs0, jnp.float32)
    action = jax.eval_shape(lambda s: agent.rule.act(agent.network, agent.config, s.params, s.carry, obs, s.first,
                                                     jax.random.PRNGKey(0), s.env_steps), state)
    return state._replace(obs=obs, first=jnp.ones((1,), bool), action=jnp.zeros(action.shape, action.dtype))


def drive(agent: StreamAgent, state, transitions):
    """learn_then_act over the stacked transitions (one jitted scan); returns the final state and, per
    step, the state's (obs, first, action, params, eligibility) before that step."""

    def body(s, tr):
        before = (s.obs, s.first, s.action, s.params, s.opt_state.eligibility)
        s, _ = agent.learn_then_act(s, tr)
        return s, before

    return jax.jit(lambda s, trs: jax.lax.scan(body, s, trs))(state, transitions)


def stacked(records: list) -> tuple[np.ndarray, Any]:
    """(δ (T,), g with leaves (T, ...)) from recorded steps."""
    deltas = np.stack([d for d, _ in records])
    grads = jax.tree.map(lambda *leaves: np.stack(leaves), *[g for _, g in records])
    return deltas, grads


def leaf_errors(got: Any, want: Any) -> dict[str, float]:
    """Per leaf: max |got − want| over all steps and entries, relative to the largest |want| of that leaf."""
    errors = {}
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (jax.tree_util.keystr(path), a.shape, b.shape)
        scale = np.max(np.abs(b)) if b.size else 0.0
        diff = np.max(np.abs(a - b)) if a.size else 0.0
        errors[jax.tree_util.keystr(path)] = float(diff / scale) if scale > 0 else float(diff)
    return errors


def step_differences(got: Any, want: Any, keep: Callable[[str], bool]) -> np.ndarray:
    """Per step t: max |got_t − want_t| over the leaves whose path ``keep`` accepts, relative to the
    largest |want_t| of those leaves at that step."""
    diff, scale = 0.0, 0.0
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(want)):
        if not keep(jax.tree_util.keystr(path)) or not np.size(a):
            continue
        a, b = np.asarray(a), np.asarray(b)
        diff = np.maximum(diff, np.max(np.abs(a - b).reshape(a.shape[0], -1), axis=1))
        scale = np.maximum(scale, np.max(np.abs(b).reshape(b.shape[0], -1), axis=1))
    return diff / np.maximum(scale, 1e-300)


# --------------------------------------------------------------------------------------------
# The unrolled references
# --------------------------------------------------------------------------------------------


def objective(net: Any, params: Any, carry: Any, obs: jax.Array, first: jax.Array, action: jax.Array):
    """(carry_t, the per-step objective whose gradient is g_t): V + log π(A_t) for stream AC (the actor
    and the critic share no parameters, so its gradient is (∇_θ log π, ∇_w V)); Q(S_t, A_t) for stream Q."""
    if isinstance(net, StreamActorCritic):
        carry, policy, value = net.step(params, carry, obs, first)
        return carry, value[0] + policy.log_prob(action)[0]
    carry, q = net.values(params, carry, obs, first)
    return carry, q[0, action[0]]


def reference_gradients(net: Any, params: Any, obs: jax.Array, first: jax.Array, actions: jax.Array,
                        hold: str = "none") -> Any:
    """Per step t, ``jax.grad`` of step t's objective through the stream unrolled from its start with
    ``net`` (gradient="bptt" cells; the resets at ``first`` cut the history). ``hold``:
      "none": full BPTT;
      "carry": the carry entering step t held constant (stop_gradient): T-BPTT(1);
      "encoder": the encoder parameters held constant at every step but t (what an immediate
        gradient gives the encoder under an RTRL cell).
    Returns leaves with a leading T axis."""
    steps = obs.shape[0]

    def at(p, t):
        def body(carry, x):
            s, o, f, a = x
            q = p
            if hold == "carry":
                carry = jax.tree.map(lambda c: jnp.where(s == t, jax.lax.stop_gradient(c), c), carry)
            if hold == "encoder":
                q = {branch: {**bp, "encoder": jax.tree.map(
                    lambda w: jnp.where(s == t, w, jax.lax.stop_gradient(w)), bp["encoder"])}
                     for branch, bp in p.items()}
            carry, out = objective(net, q, carry, o, f[None], a)
            return carry, out

        _, outs = jax.lax.scan(body, net.initial_carry(p, 1), (jnp.arange(steps), obs, first, actions))
        return outs[t]

    return jax.jit(jax.vmap(jax.grad(at), in_axes=(None, 0)))(params, jnp.arange(steps))


def streamed_gradients(cfg: StreamConfig, seed: int = 0, rule_wrapper=None, network: Any = None):
    """Drive learn_then_act (ObGD, step size 1e-300) over `stream` and return (g per step, the
    initial params, obs, first, actions per step) for comparison with `reference_gradients`."""
    records: list = []
    wrap = recording(records) if rule_wrapper is None else chain(rule_wrapper, recording(records))
    cfg = dataclasses.replace(cfg, step_size=FROZEN, optimizer="obgd")
    agent = make_agent(cfg, wrap, network)
    obs, first, transitions = stream(seed)
    state = start(agent, obs[0])
    final, (seen_obs, seen_first, actions, _, _) = drive(agent, state, transitions)
    # The core's plumbing: step t learned at S_t with first_t, and the parameters did not move.
    np.testing.assert_array_equal(seen_obs, obs)
    np.testing.assert_array_equal(seen_first[:, 0], first)
    for a, b in zip(jax.tree.leaves(final.params), jax.tree.leaves(state.params)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-250)
    assert len(records) == STEPS
    _, grads = stacked(records)
    return grads, state.params, obs, first, actions


def bptt_network(cfg: StreamConfig, discrete: bool = True) -> Any:
    """The same network as ``cfg``'s with gradient="bptt" cells (StreamConfig(gradient="tbptt"))."""
    other = dataclasses.replace(cfg, gradient="tbptt")
    agent = make_agent(other)
    return agent.network if discrete else StreamActorCritic.make(other, OBS, 2, False)


# --------------------------------------------------------------------------------------------
# 1. RTRL gradients of V, log π and Q equal BPTT through the unrolled stream
# --------------------------------------------------------------------------------------------


def rtrl_errors(cfg: StreamConfig, rule_wrapper=None, discrete: bool = True) -> dict[str, float]:
    network = None if discrete else StreamActorCritic.make(cfg, OBS, 2, False)
    got, params, obs, first, actions = streamed_gradients(cfg, rule_wrapper=rule_wrapper, network=network)
    want = reference_gradients(bptt_network(cfg, discrete), params, obs, first, actions)
    # The reference is not trivial: the recurrent parameters have gradients at every step.
    cell_scale = max(float(np.max(np.abs(leaf))) for path, leaf in jax.tree_util.tree_leaves_with_path(want)
                     if "'cell'" in jax.tree_util.keystr(path))
    assert cell_scale > 1e-3
    return leaf_errors(got, want)


@pytest.mark.parametrize("agent, cell", [("stream-ac", c) for c in CELLS]
                         + [("stream-q", "rtu-nonlinear")])
def test_rtrl_gradients_equal_bptt_through_the_stream(agent, cell):
    """With encoder=() every parameter's g_t (∇V and ∇log π; ∇Q(S_t, A_t)) is the full-history gradient."""
    errors = rtrl_errors(config(agent=agent, cell=cell))
    assert max(errors.values()) <= EXACT, errors


def test_rtrl_gradients_exact_for_continuous_actions():
    """A Gaussian policy: log π's gradient (log_std included) is exact as well."""
    errors = rtrl_errors(config(cell="rtu-linear", action="auto"), discrete=False)
    assert any("log_std" in path for path in errors)
    assert max(errors.values()) <= EXACT, errors


def test_rtrl_gradients_with_an_encoder():
    """Under an encoder the cell, head and output layers are still exact; the encoder is immediate-only
    (rtrl.networks.stack): its gradient is that of BPTT with the encoder's parameters held constant at
    every step but the current one (not the full gradient). Holding them leaves every other leaf of the
    reference at its full-BPTT value, so one reference checks both."""
    cfg = config(cell="rtu-nonlinear", encoder=(3,))
    got, params, obs, first, actions = streamed_gradients(cfg)
    errors = leaf_errors(got, reference_gradients(bptt_network(cfg), params, obs, first, actions, hold="encoder"))
    assert any("'encoder'" in p for p in errors) and any("'cell'" in p for p in errors)
    assert max(errors.values()) <= EXACT, errors


# --------------------------------------------------------------------------------------------
# 6 (and the reset half of 4). Plants the exactness check must catch
# --------------------------------------------------------------------------------------------


def carry_shifted(rule: StreamRule) -> StreamRule:
    """Planted off-by-one: the gradient at step t formed from carry_t (S_t already consumed) instead of carry_{t−1}."""

    def gradients(net, cfg, params, carry, obs, first, action, transition, step):
        ahead = net.step(params, carry, obs, first)[0]
        return rule.gradients(net, cfg, params, ahead, obs, jnp.zeros_like(first), action, transition, step)

    return rule._replace(gradients=gradients)


def reset_dropped(rule: StreamRule) -> StreamRule:
    """Planted: the episode start is not passed on (state and RTRL traces run across episodes)."""

    def gradients(net, cfg, params, carry, obs, first, action, transition, step):
        return rule.gradients(net, cfg, params, carry, obs, jnp.zeros_like(first), action, transition, step)

    return rule._replace(gradients=gradients)


@pytest.mark.parametrize("plant", [carry_shifted, reset_dropped])
def test_planted_carry_and_reset_bugs_break_exactness(plant):
    errors = rtrl_errors(config(cell="rtu-linear"), rule_wrapper=plant)
    assert max(v for p, v in errors.items() if "'cell'" in p) > DIFFERENT, errors


# --------------------------------------------------------------------------------------------
# 2. T-BPTT(1)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent, cell", [("stream-ac", "rtu-linear"), ("stream-q", "gru")])
def test_tbptt_is_the_one_step_gradient(agent, cell):
    """gradient="tbptt": g_t is jax.grad with the incoming carry held constant; it equals full BPTT at an
    episode's first step (nothing to truncate) and differs from it (the cell's leaves) at every later step."""
    cfg = config(agent=agent, cell=cell, gradient="tbptt")
    got, params, obs, first, actions = streamed_gradients(cfg)
    net = bptt_network(cfg)
    one_step = leaf_errors(got, reference_gradients(net, params, obs, first, actions, hold="carry"))
    assert max(one_step.values()) <= EXACT, one_step
    full = reference_gradients(net, params, obs, first, actions)
    difference = step_differences(got, full, lambda p: "'cell'" in p)
    first = np.asarray(first)
    assert np.all(difference[first] <= EXACT), difference
    assert np.all(difference[~first] > DIFFERENT), difference


# --------------------------------------------------------------------------------------------
# 3. Eligibility traces, ObGD, Adam and the entropy term written out by hand
# --------------------------------------------------------------------------------------------

# A few steps of a feed-forward agent: normal, truncated, normal, terminated, normal (rewards large
# enough that δ takes both signs and |δ| > 1 at some step, so max(|δ|, 1) and sign(δ) both matter).
HAND_REWARDS = (3.0, -2.5, 0.5, 4.0, -3.0)
HAND_DONE = (False, True, False, True, False)
HAND_TERMINATED = (False, False, False, True, False)


def hand_transitions(seed: int = 3) -> list[Transition]:
    rng = np.random.default_rng(seed)
    out = []
    for r, d, t in zip(HAND_REWARDS, HAND_DONE, HAND_TERMINATED):
        obs = jnp.asarray(rng.uniform(-1, 1, (1, OBS)).astype(np.float32), jnp.float64)
        final = jnp.asarray(rng.uniform(-1, 1, (1, OBS)).astype(np.float32), jnp.float64) if d else obs
        out.append(Transition(jnp.array([r]), obs, jnp.array([d]), jnp.array([t]), final, {}))
    return out


@functools.cache
def derivatives(net: StreamActorCritic) -> Callable:
    """(params, x, x_next, action) -> (V(x), V(x_next), ∇V(x), ∇log π(action|x), ∇H(π(·|x))) of a
    feed-forward ``net``, by jax.grad (jitted once per network)."""

    def head(p, x):
        _, policy, value = net.step(p, net.initial_carry(p, 1), x, jnp.ones((1,), bool))
        return policy, value[0]

    def compute(params, x, x_next, action):
        return (head(params, x)[1], head(params, x_next)[1], jax.grad(lambda p: head(p, x)[1])(params),
                jax.grad(lambda p: head(p, x)[0].log_prob(action)[0])(params),
                jax.grad(lambda p: head(p, x)[0].entropy()[0])(params))

    return jax.jit(compute)


def by_hand(net: StreamActorCritic, cfg: StreamConfig, state, transition: Transition, adam: dict | None):
    """One stream AC(λ) step of a feed-forward network from the formulas of online_agents.md, in NumPy.
    Returns (new params, new eligibility traces, {group: M}); ``adam`` (per group: m, v, count) is
    updated in place when given."""
    params, z = jax.tree.map(np.asarray, state.params), jax.tree.map(np.asarray, state.opt_state.eligibility)
    x_next = transition.final_obs if bool(transition.done[0]) else transition.obs
    v, v_next, dv, dlogp, dh = jax.tree.map(np.asarray, derivatives(net)(
        state.params, state.obs.astype(jnp.float64), x_next, state.action))
    bootstrap = 0.0 if bool(transition.terminated[0]) else cfg.gamma * float(v_next)
    delta = float(transition.reward[0]) + bootstrap - float(v)
    tau = cfg.entropy_coef * np.sign(delta)
    g = {"actor": jax.tree.map(lambda a, b: a + tau * b, dlogp["actor"], dh["actor"]), "critic": dv["critic"]}
    decay = cfg.gamma * cfg.lambda_
    z = {k: jax.tree.map(lambda zi, gi: decay * zi + gi, z[k], g[k]) for k in g}
    kappa = {"actor": cfg.kappa_actor, "critic": cfg.kappa_critic}
    new, bounds = {}, {}
    for k in g:
        if adam is None:
            l1 = sum(float(np.sum(np.abs(leaf))) for leaf in jax.tree.leaves(z[k]))
            bounds[k] = cfg.step_size * kappa[k] * max(abs(delta), 1.0) * l1
            alpha = cfg.step_size / max(bounds[k], 1.0)
            new[k] = jax.tree.map(lambda p, zi, a=alpha: p + a * delta * zi, params[k], z[k])
        else:  # Adam (β1 0.9, β2 0.999, ε 1e-8) on the gradient −δ z
            m, v2, n = adam[k]
            gradient = jax.tree.map(lambda zi: -delta * zi, z[k])
            n += 1
            m = jax.tree.map(lambda mi, gi: 0.9 * mi + 0.1 * gi, m, gradient)
            v2 = jax.tree.map(lambda vi, gi: 0.999 * vi + 0.001 * gi * gi, v2, gradient)
            new[k] = jax.tree.map(lambda p, mi, vi, n=n: p - cfg.step_size * (mi / (1 - 0.9**n))
                                  / (np.sqrt(vi / (1 - 0.999**n)) + 1e-8), params[k], m, v2)
            adam[k] = (m, v2, n)
    if bool(transition.done[0]):
        z = jax.tree.map(np.zeros_like, z)
    return new, z, bounds


def hand_run(cfg: StreamConfig, wrapper=None):
    """(max relative error of params and traces against `by_hand` over the steps, M per step, traces per step)."""
    agent = make_agent(cfg, wrapper)
    step = jax.jit(agent.learn_then_act)
    state = start(agent, np.linspace(-1.0, 1.0, OBS, dtype=np.float32)[None])
    zeros = lambda k: jax.tree.map(np.zeros_like, state.params[k])
    adam = None if cfg.optimizer == "obgd" else {k: (zeros(k), zeros(k), 0) for k in ("actor", "critic")}
    worst, bounds, traces = 0.0, [], []
    for transition in hand_transitions():
        want_params, want_z, m = by_hand(agent.network, cfg, state, transition, adam)
        state, _ = step(state, transition)
        errors = [leaf_errors(state.params, want_params), leaf_errors(state.opt_state.eligibility, want_z)]
        worst = max(worst, *(max(e.values()) for e in errors))
        bounds.append(m)
        traces.append(state.opt_state.eligibility)
    return worst, bounds, traces


@pytest.mark.parametrize("step_size", [1.0, 0.005])
@pytest.mark.parametrize("entropy_coef", [0.0, 0.3])
def test_eligibility_traces_and_obgd_by_hand(step_size, entropy_coef):
    """z ← γλ z + g (g = ∇V, ∇[log π + τ sign(δ) H]); per group δ̄ = max(|δ|, 1), M = α κ δ̄ ‖z‖₁,
    p ← p + α/max(M, 1)·δ·z; z ← 0 after a done step."""
    cfg = config(gradient="none", head=(3,), step_size=step_size, entropy_coef=entropy_coef, lambda_=0.7,
                 gamma=0.9)
    worst, bounds, _ = hand_run(cfg)
    assert worst <= EXACT
    ms = [m for step in bounds for m in step.values()]
    # the steps covered the regime of the step size: bounded (M > 1) with α = 1, unbounded with α = 0.005
    assert all(m > 1 for m in ms) if step_size == 1.0 else all(m < 1 for m in ms), ms


def test_adam_on_the_trace_by_hand():
    """optimizer="adam": per group, Adam on the gradient −δ z (its moments kept across episodes)."""
    cfg = config(gradient="none", head=(3,), optimizer="adam", step_size=0.01, entropy_coef=0.1, lambda_=0.7)
    worst, _, _ = hand_run(cfg)
    assert worst <= EXACT


def test_plants_in_the_trace_formulas_fail():
    """The by-hand check bites: a rule that forgets the entropy's sign(δ) (always +τ·H), or flips δ."""

    def entropy_unsigned(rule):
        def gradients(net, cfg, params, carry, obs, first, action, transition, step):
            g = rule.gradients(net, cfg, params, carry, obs, first, action, transition, step)
            # recompute with δ forced positive: the entropy weight becomes +τ
            positive = transition._replace(reward=transition.reward + 100.0)
            return g._replace(grads=rule.gradients(net, cfg, params, carry, obs, first, action, positive,
                                                   step).grads)

        return rule._replace(gradients=gradients)

    def delta_flipped(rule):
        def gradients(*args):
            g = rule.gradients(*args)
            return g._replace(delta=-g.delta)

        return rule._replace(gradients=gradients)

    cfg = config(gradient="none", head=(3,), entropy_coef=0.3, lambda_=0.7)
    for plant in (entropy_unsigned, delta_flipped):
        assert hand_run(cfg, plant)[0] > DIFFERENT, plant.__name__


# --------------------------------------------------------------------------------------------
# 4. Resets: eligibility traces, RTRL traces, Q(λ)'s cut
# --------------------------------------------------------------------------------------------


def test_eligibility_traces_zeroed_exactly_after_done():
    """Zero after a truncated or terminated step, nowhere else (the values themselves: test above)."""
    _, _, traces = hand_run(config(gradient="none", head=(3,), lambda_=0.7))
    for done, z in zip(HAND_DONE, traces):
        if done:
            assert all(np.all(np.asarray(leaf) == 0) for leaf in jax.tree.leaves(z))
        else:  # every group's trace is nonzero
            assert all(sum(float(np.sum(np.abs(leaf))) for leaf in jax.tree.leaves(group)) > 0
                       for group in z.values())


def first_step_of_episode_two(rule_wrapper=None):
    """Drive an RTRL stream AC (step size 1: the parameters move) through a 6-step episode ending in a
    truncation and the first step of the next; return (g at that step, the fresh network's gradient at
    that observation with the parameters of that step, the carry after it, the fresh network's carry)."""
    records: list = []
    wrap = recording(records) if rule_wrapper is None else chain(rule_wrapper, recording(records))
    agent = make_agent(config(cell="rtu-nonlinear", lambda_=0.5), wrap)
    obs, first, transitions = stream(5, steps=7, truncated=(5,), terminated=())
    assert bool(first[6])
    after, (_, _, actions, params, _) = drive(agent, start(agent, obs[0]), transitions)
    params = jax.tree.map(lambda x: x[6], params)  # the parameters of step 6, before its update
    net = agent.network

    def fresh_objective(p):
        carry, out = objective(net, p, net.initial_carry(p, 1), obs[6], jnp.ones((1,), bool), actions[6])
        return out, carry

    want, fresh_carry = jax.jit(jax.grad(fresh_objective, has_aux=True))(params)
    return records[6][1], want, after.carry, fresh_carry


def test_rtrl_traces_restart_at_an_episode_start():
    """After a done step the next step's gradient and carry (state and RTRL traces) are a fresh network's."""
    got, want, carry, fresh_carry = first_step_of_episode_two()
    assert max(leaf_errors(got, want).values()) <= EXACT
    assert max(leaf_errors(carry, fresh_carry).values()) <= EXACT


def test_planted_dropped_reset_fails_the_restart_check():
    got, want, carry, fresh_carry = first_step_of_episode_two(reset_dropped)
    assert max(leaf_errors(got, want).values()) > DIFFERENT
    assert max(leaf_errors(carry, fresh_carry).values()) > DIFFERENT


def q_step(greedy: bool, rule_wrapper=None):
    """One stream Q(λ) step after a first one (so z_{t−1} ≠ 0) with A_t chosen greedy or not, by hand;
    returns (z_{t−1}, z_t, g_t)."""
    records: list = []
    wrap = recording(records) if rule_wrapper is None else chain(rule_wrapper, recording(records))
    cfg = config(agent="stream-q", cell="rtu-linear", lambda_=0.8, step_size=0.1)
    agent = make_agent(cfg, wrap)
    step = jax.jit(agent.learn_then_act)
    obs, _, transitions = stream(7, steps=2, truncated=(), terminated=())
    state = start(agent, obs[0])
    q = agent.network.values_only(state.params, state.carry, state.obs, state.first)[0]
    state = state._replace(action=jnp.argmax(q)[None].astype(jnp.int32))  # greedy first step: z kept
    state, _ = step(state, jax.tree.map(lambda x: x[0], transitions))
    before = state.opt_state.eligibility
    q = np.asarray(agent.network.values_only(state.params, state.carry, state.obs, state.first)[0])
    action = int(np.argmax(q)) if greedy else int(np.argmin(q))
    assert q[action] != q.max() or greedy
    state, _ = step(state._replace(action=jnp.array([action], jnp.int32)), jax.tree.map(lambda x: x[1], transitions))
    return before, state.opt_state.eligibility, records[-1][1]


def test_q_lambda_cuts_the_trace_after_an_exploratory_action_only():
    before, after, g = q_step(greedy=True)
    assert sum(float(np.sum(np.abs(leaf))) for leaf in jax.tree.leaves(before)) > 0
    decay = 0.99 * 0.8
    want = jax.tree.map(lambda zi, gi: decay * zi + gi, before, g)
    assert max(leaf_errors(after, want).values()) <= EXACT  # greedy: kept
    _, after, _ = q_step(greedy=False)
    assert all(np.all(np.asarray(leaf) == 0) for leaf in jax.tree.leaves(after))  # exploratory: cut


def test_planted_q_never_cutting_fails():
    """A rule that never cuts the trace keeps it after an exploratory action: caught."""

    def never_cut(rule):
        def gradients(*args):
            return rule.gradients(*args)._replace(cut_traces=jnp.zeros((), bool))

        return rule._replace(gradients=gradients)

    _, after, _ = q_step(greedy=False, rule_wrapper=never_cut)
    assert any(np.any(np.asarray(leaf) != 0) for leaf in jax.tree.leaves(after))


# --------------------------------------------------------------------------------------------
# 5. Bootstrap: V(final_obs) at a truncation, none at a termination
# --------------------------------------------------------------------------------------------


def bootstrap_deltas(agent_name: str, rule_wrapper=None) -> tuple[np.ndarray, np.ndarray]:
    """δ_t recorded over a recurrent stream (step size 1: parameters move) and δ_t by hand:
    R + γ(1 − terminated) V(S_{t+1}) − V(S_t), with S_{t+1} = final_obs where done, V(S_{t+1})
    (max_a Q for stream Q) continuing the network's state from h_t (no reset), from the step's
    parameters."""
    records: list = []
    wrap = recording(records) if rule_wrapper is None else chain(rule_wrapper, recording(records))
    cfg = config(agent=agent_name, cell="rtu-nonlinear", gamma=0.9)
    agent = make_agent(cfg, wrap)
    obs, first, transitions = stream(11, steps=12, truncated=(4,), terminated=(8,))
    _, (_, _, actions, params, _) = drive(agent, start(agent, obs[0]), transitions)
    got, _ = stacked(records)
    net = agent.network
    ac = isinstance(net, StreamActorCritic)

    @jax.jit
    def value(p, carry, x, f):
        if ac:
            carry, _, v = net.step(p, carry, x, f)
            return carry, v[0]
        carry, q = net.values(p, carry, x, f)
        return carry, q[0]

    want = []
    carry = net.initial_carry(jax.tree.map(lambda x: x[0], params), 1)
    for t in range(obs.shape[0]):
        p = jax.tree.map(lambda x, t=t: x[t], params)  # the parameters of step t (before its update)
        carry, v = value(p, carry, obs[t], first[t][None])
        v_t = v if ac else v[actions[t][0]]
        tr = jax.tree.map(lambda x, t=t: x[t], transitions)
        v_next = value(p, carry, tr.final_obs, jnp.zeros((1,), bool))[1]
        v_next = v_next if ac else jnp.max(v_next)
        want.append(float(tr.reward[0] + (0.0 if bool(tr.terminated[0]) else cfg.gamma * v_next) - v_t))
    return got, np.asarray(want)


@pytest.mark.parametrize("agent", ["stream-ac", "stream-q"])
def test_bootstrap_from_final_obs_and_not_after_termination(agent):
    got, want = bootstrap_deltas(agent)
    np.testing.assert_allclose(got, want, rtol=EXACT, atol=1e-12)


def bootstrap_from_reset_obs(rule: StreamRule) -> StreamRule:
    """Planted: δ bootstraps from transition.obs (the next episode's first observation) at a truncation."""

    def gradients(net, cfg, params, carry, obs, first, action, transition, step):
        return rule.gradients(net, cfg, params, carry, obs, first, action,
                              transition._replace(final_obs=transition.obs), step)

    return rule._replace(gradients=gradients)


def terminated_ignored(rule: StreamRule) -> StreamRule:
    """Planted: δ bootstraps after a termination as after a truncation."""

    def gradients(net, cfg, params, carry, obs, first, action, transition, step):
        return rule.gradients(net, cfg, params, carry, obs, first, action,
                              transition._replace(terminated=jnp.zeros_like(transition.terminated)), step)

    return rule._replace(gradients=gradients)


@pytest.mark.parametrize("plant, at", [(bootstrap_from_reset_obs, 4), (terminated_ignored, 8)])
def test_planted_bootstrap_bugs_fail(plant, at):
    got, want = bootstrap_deltas("stream-ac", plant)
    wrong = np.abs(got - want) > DIFFERENT * np.maximum(np.abs(want), 1.0)
    assert wrong[at], (got, want)
