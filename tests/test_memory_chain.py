"""jax/MemoryChain (bsuite memory_len / memory_size): the score of an optimal, a memoryless and a
random policy, the episode structure, what each observation shows, and option checking."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs.memory_chain import MemoryChain, MemoryChainState


# --- an independent reference of the documented observation layout -----------------------------
def expected_obs(t: int, length: int, context, query: int) -> np.ndarray:
    """``[1 - t/L, onehot(q) at t == L, 2c - 1 at t == 0]`` (zeros after the scored step)."""
    n = len(context)
    time_left = max(length - t, 0) / length
    q = np.eye(n)[query] if t == length else np.zeros(n)
    c = 2.0 * np.asarray(context, np.float64) - 1.0 if t == 0 else np.zeros(n)
    return np.concatenate([[time_left], q, c]).astype(np.float32)


# --- policies: (memory, obs, first, key) -> (memory, action); obs of ONE env ---------------------
def optimal(num_bits: int):
    """Remembers the context part of the first observation of each episode (its own memory, told
    by the previous step's ``done``) and, when a query is shown, names the remembered bit; acts at
    random on every other step (those actions are not scored)."""

    def policy(memory, obs, first, key):
        memory = jnp.where(first, obs[1 + num_bits:], memory)
        query_part = obs[1:1 + num_bits]
        answer = (memory[jnp.argmax(query_part)] > 0).astype(jnp.int32)
        random = jax.random.bernoulli(key).astype(jnp.int32)
        return memory, jnp.where(query_part.sum() > 0, answer, random)

    return policy


def memoryless(act):
    """A policy that sees only the current observation."""
    return lambda memory, obs, first, key: (memory, jnp.asarray(act(obs, key), jnp.int32))


def rollout_fn(env, policy, num_bits: int, steps: int):
    """``run(key)``: ``steps`` steps of ``env`` (one env or a VmapEnv) inside one ``lax.scan``.

    Returns per step (leading axis time): the observation acted on, action, reward, done,
    terminated, truncated, info["final_obs"].
    """
    batch = env.batch_shape
    act = policy
    for _ in batch:
        act = jax.vmap(act)

    def run(key):
        key_reset, key_run = jax.random.split(key)
        state, obs = env.reset(key_reset)
        carry = (state, obs, jnp.ones(batch, bool), jnp.zeros(batch + (num_bits,), jnp.float32))

        def body(carry, key):
            state, obs, first, memory = carry
            key_act, key_env = jax.random.split(key)
            memory, action = act(memory, obs, first, jax.random.split(key_act, batch) if batch else key_act)
            state, next_obs, reward, done, info = env.step(state, action, key_env)
            out = (obs, action, reward, done, info["terminated"], info["truncated"], info["final_obs"])
            return (state, next_obs, done, memory), out

        return jax.lax.scan(body, carry, jax.random.split(key_run, steps))[1]

    return run


def rollout(env, policy, num_bits: int, key, steps: int):
    """`rollout_fn` run once under jit, as NumPy arrays."""
    return jax.tree.map(np.asarray, jax.jit(rollout_fn(env, policy, num_bits, steps))(key))


def scored_rewards(out) -> np.ndarray:
    """The rewards of the scored steps (where an episode ended)."""
    _, _, reward, done, *_ = out
    return reward[done]


# --- scores ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("length", "num_bits"), [(1, 1), (1, 3), (7, 1), (7, 3), (128, 1), (128, 3)])
def test_an_optimal_policy_scores_exactly_one_every_episode(length, num_bits):
    env = E.make("jax/MemoryChain", length=length, num_bits=num_bits)
    episodes, seeds = 3, 4
    # seeds under vmap, each a lax.scan over the steps of one env
    run = jax.jit(jax.vmap(rollout_fn(env, optimal(num_bits), num_bits, episodes * (length + 1))))
    _, _, reward, done, *_ = map(np.asarray, run(jax.random.split(jax.random.PRNGKey(length + num_bits), seeds)))
    assert reward.shape == (seeds, episodes * (length + 1))
    np.testing.assert_array_equal(done.sum(axis=1), episodes)
    np.testing.assert_array_equal(reward[done], 1.0)
    np.testing.assert_array_equal(reward[~done], 0.0)


def test_an_optimal_policy_scores_one_in_a_vmap_env_of_many_seeds():
    """num_envs=64 (VmapEnv), memory_size variant, every env's every episode scores 1."""
    length, num_bits, episodes = 5, 4, 4
    env = E.make("jax/MemoryChain", length=length, num_bits=num_bits, num_envs=64)
    assert isinstance(env, E.VmapEnv)
    out = rollout(env, optimal(num_bits), num_bits, jax.random.PRNGKey(0), episodes * (length + 1))
    done = out[3]
    assert done.shape == (episodes * (length + 1), 64) and np.all(done.sum(axis=0) == episodes)
    np.testing.assert_array_equal(scored_rewards(out), 1.0)


def _leak_reader(num_bits):
    # reads the queried bit's context slot in the current observation: scores 1 only if the context leaks
    return lambda obs, key: obs[1 + num_bits + jnp.argmax(obs[1:1 + num_bits])] > 0


def _fixed_random_function(num_bits):
    w = jax.random.normal(jax.random.PRNGKey(42), (1 + 2 * num_bits,))
    return lambda obs, key: jnp.sin(37.0 * obs @ w) > 0


MEMORYLESS = {
    "always-0": lambda n: lambda obs, key: 0,
    "always-1": lambda n: lambda obs, key: 1,
    "query-parity": lambda n: lambda obs, key: jnp.argmax(obs[1:1 + n]) % 2,
    "reads-context-slot": _leak_reader,
    "fixed-function-of-obs": _fixed_random_function,
    "random": lambda n: lambda obs, key: jax.random.bernoulli(key),
}


@pytest.mark.parametrize("num_bits", [1, 3])
@pytest.mark.parametrize("name", list(MEMORYLESS))
def test_memoryless_and_random_play_score_zero_on_average(name, num_bits):
    """Any function of the current observation (and random play) scores 0 in expectation: over
    2048 episodes the mean scored reward has standard deviation ≈ 0.022; the bound is 5 of them."""
    length, num_envs, episodes = 3, 256, 8
    env = E.make("jax/MemoryChain", length=length, num_bits=num_bits, num_envs=num_envs)
    policy = memoryless(MEMORYLESS[name](num_bits))
    out = rollout(env, policy, num_bits, jax.random.PRNGKey(7), episodes * (length + 1))
    scores = scored_rewards(out)
    assert scores.size == num_envs * episodes and set(np.unique(scores)) <= {-1.0, 1.0}
    assert abs(scores.mean()) < 5 / np.sqrt(scores.size), scores.mean()


# --- episode structure ---------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 2, 9])
def test_an_episode_is_length_plus_one_steps_then_terminates_and_resets(length):
    num_bits = 2
    env = E.make("jax/MemoryChain", length=length, num_bits=num_bits)
    episodes = 4
    obs, _action, reward, done, terminated, truncated, final_obs = rollout(
        env, memoryless(MEMORYLESS["random"](num_bits)), num_bits, jax.random.PRNGKey(3), episodes * (length + 1))
    steps = np.arange(episodes * (length + 1))
    np.testing.assert_array_equal(done, steps % (length + 1) == length)
    np.testing.assert_array_equal(terminated, done)
    assert not truncated.any()
    np.testing.assert_array_equal(reward[~done], 0.0)
    # the time entry counts each episode down from 1 to 0; the context shows exactly at its start
    t = steps % (length + 1)
    np.testing.assert_allclose(obs[:, 0], (length - t) / length, rtol=1e-6)
    assert np.all(np.abs(obs[t == 0, 1 + num_bits:]) == 1) and np.all(obs[t > 0, 1 + num_bits:] == 0)
    # after the scored action the final observation is zeros; the next observation starts a new episode
    np.testing.assert_array_equal(final_obs[done], 0.0)
    np.testing.assert_array_equal(final_obs[:-1][~done[:-1]], obs[1:][~done[:-1]])
    np.testing.assert_array_equal(obs[1:][done[:-1], 0], 1.0)


def test_eager_steps_follow_the_same_episode():
    """Outside jit (the eager auto-reset branch): L = 1 is two steps, the second scored."""
    env = MemoryChain(length=1, num_bits=1)
    state, obs = env.reset(jax.random.PRNGKey(0))
    bit = int(state.context[0])
    np.testing.assert_array_equal(obs, expected_obs(0, 1, [bit], 0))
    state, obs, reward, done, info = env.step(state, np.int32(1 - bit), jax.random.PRNGKey(1))
    assert float(reward) == 0.0 and not bool(done)
    np.testing.assert_array_equal(obs, expected_obs(1, 1, [bit], 0))
    state, obs, reward, done, info = env.step(state, np.int32(bit), jax.random.PRNGKey(2))
    assert float(reward) == 1.0 and bool(done) and bool(info["terminated"]) and not bool(info["truncated"])
    np.testing.assert_array_equal(info["final_obs"], 0.0)
    assert int(state.time) == 0 and obs[0] == 1.0  # auto-reset: a fresh episode's first observation


def test_a_wrong_or_out_of_range_answer_scores_minus_one_under_jit():
    env = MemoryChain(length=2, num_bits=3)
    state = MemoryChainState(jnp.array([1, 0, 1], jnp.int32), jnp.int32(1), jnp.int32(2))
    step = jax.jit(env.step)
    key = jax.random.PRNGKey(0)
    assert float(step(state, jnp.int32(0), key)[2]) == 1.0  # context[1] == 0
    assert float(step(state, jnp.int32(1), key)[2]) == -1.0
    assert float(step(state, jnp.int32(5), key)[2]) == -1.0  # out of range inside jit: wrong
    with pytest.raises(ValueError, match="valid: 0..1"):  # ... and refused outside
        env.step(state, np.int32(5), key)


# --- what the observations show ------------------------------------------------------------------
def _observations(env, context, query):
    """The observations t = 0 .. L (and the final one) of an episode with the given hidden state."""
    state = MemoryChainState(jnp.asarray(context, jnp.int32), jnp.int32(query), jnp.int32(0))
    seen = [np.asarray(env.observe(state))]
    for t in range(env.length + 1):
        state, obs, *_ = env.step_env(state, jnp.int32(t % 2), jax.random.PRNGKey(t))
        seen.append(np.asarray(obs))
    return np.stack(seen)


@pytest.mark.parametrize("length", [1, 4])
def test_the_context_shows_only_at_t0_and_the_query_only_at_the_scored_step(length):
    num_bits = 3
    env = MemoryChain(length=length, num_bits=num_bits)
    contexts = list(itertools.product([0, 1], repeat=num_bits))
    seen = {(c, q): _observations(env, c, q) for c in contexts for q in range(num_bits)}
    for (c, q), obs in seen.items():  # the documented layout, exactly
        np.testing.assert_array_equal(obs, [expected_obs(t, length, c, q) for t in range(length + 2)])
    for q in range(num_bits):
        # t >= 1: identical for every context (no information about it); t = 0: a different vector for each
        later = {seen[c, q][1:].tobytes() for c in contexts}
        first = {seen[c, q][0].tobytes() for c in contexts}
        assert len(later) == 1 and len(first) == len(contexts)
    for c in contexts:
        # t < L: identical for every query; t = L: a different vector for each
        assert len({seen[c, q][:length].tobytes() for q in range(num_bits)}) == 1
        assert len({seen[c, q][length].tobytes() for q in range(num_bits)}) == num_bits


def test_reset_draws_context_and_query_uniformly_and_shows_them():
    num_bits, draws = 3, 4000
    env = MemoryChain(length=5, num_bits=num_bits)
    state, obs = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(11), draws))
    context, query = np.asarray(state.context), np.asarray(state.query)
    codes = context @ (2 ** np.arange(num_bits))
    np.testing.assert_allclose(np.bincount(codes, minlength=8) / draws, 1 / 8, atol=0.03)
    np.testing.assert_allclose(np.bincount(query, minlength=num_bits) / draws, 1 / num_bits, atol=0.04)
    np.testing.assert_array_equal(obs[:, 1 + num_bits:], 2.0 * context - 1.0)
    np.testing.assert_array_equal(obs[:, :1 + num_bits], np.eye(1, 1 + num_bits)[[0] * draws])
    assert np.all(np.asarray(E.make("jax/MemoryChain").reset(jax.random.PRNGKey(1))[0].query) == 0)


def test_spaces_and_dtypes():
    env = E.make("jax/MemoryChain", length=3, num_bits=2)
    assert env.action_space == E.Discrete(2)
    space = env.observation_space
    assert space.shape == (5,)
    np.testing.assert_array_equal(space.low_array, [0, 0, 0, -1, -1])
    np.testing.assert_array_equal(space.high_array, 1.0)
    state, obs = env.reset(jax.random.PRNGKey(0))
    assert obs.dtype == np.float32
    assert [leaf.dtype for leaf in jax.tree.leaves(state)] == [np.int32] * 3


# --- registry, wrappers, CLI ---------------------------------------------------------------------
def test_registered_in_the_jax_family_with_its_options(capsys):
    from rtrl.cli import main

    assert "jax/MemoryChain" in E.names("jax")
    s = E.spec("jax/MemoryChain")
    assert s.backend == "jax" and s.installed
    assert dict(s.options) == {"length": 16, "num_bits": 1, "previous_action": False, "num_envs": None}
    assert E.check("jax/MemoryChain", {"length": 64}) == {"length": 64, "num_bits": 1, "previous_action": False,
                                                          "num_envs": None}
    env = E.make("jax/MemoryChain", length=64, num_bits=3)
    assert isinstance(env, MemoryChain) and (env.length, env.num_bits) == (64, 3)
    assert main(["envs", "--family", "jax"]) == 0
    assert "jax/MemoryChain" in capsys.readouterr().out


BAD = [
    ("length", 0), ("length", -4), ("length", 2.5), ("length", 8.0), ("length", True), ("length", "8"),
    ("length", None), ("num_bits", 0), ("num_bits", 1.5), ("num_bits", False),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_bad_options_are_refused_naming_the_field(field, value):
    message = rf"{field} must be a positive integer.*got {value!r}"
    with pytest.raises(ValueError, match=rf"jax/MemoryChain: option {message}"):
        E.spec("jax/MemoryChain").check_options({field: value})
    with pytest.raises(ValueError, match=rf"jax/MemoryChain: option {message}"):
        E.check("jax/MemoryChain", {field: value})
    with pytest.raises(ValueError, match=rf"jax/MemoryChain: option {message}"):
        E.make("jax/MemoryChain", **{field: value})
    with pytest.raises(ValueError, match=rf"MemoryChain.{message}"):
        MemoryChain(**{field: value})


def test_unknown_option_is_refused_listing_the_options():
    with pytest.raises(ValueError, match=r"does not take option\(s\) num_decks; its options are: length=16"):
        E.make("jax/MemoryChain", num_decks=2)


def test_wrappers_previous_action_and_episode_statistics():
    """With previous_action=True the observation gains the previous action's one-hot (the layout
    before it unchanged, so the optimal policy still scores 1); episode_statistics reports
    return 1 and length L + 1; the standard stack runs inside jit/scan."""
    length, num_bits = 4, 2
    env = E.make("jax/MemoryChain", length=length, num_bits=num_bits, previous_action=True, num_envs=8)
    assert env.observation_space.shape == (1 + 2 * num_bits + 2,)
    env = E.wrappers.episode_statistics(env)
    policy = optimal(num_bits)

    def trimmed(memory, obs, first, key):  # the policy reads the MemoryChain part only
        return policy(memory, obs[:1 + 2 * num_bits], first, key)

    steps = 3 * (length + 1)
    batch = env.batch_shape

    @jax.jit
    def run(key):
        state, obs = env.reset(key)

        def body(carry, key):
            state, obs, first, memory = carry
            memory, action = jax.vmap(trimmed)(memory, obs, first, jax.random.split(key, batch))
            state, obs, _reward, done, info = env.step(state, action, key)
            return (state, obs, done, memory), (done, info["episode_return"], info["episode_length"])

        carry = (state, obs, jnp.ones(batch, bool), jnp.zeros(batch + (num_bits,)))
        return jax.lax.scan(body, carry, jax.random.split(key, steps))[1]

    done, returns, lengths = map(np.asarray, run(jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(returns[done], 1.0)
    np.testing.assert_array_equal(lengths[done], length + 1)

    standard = E.wrappers.standard(E.make("jax/MemoryChain", length=length, num_bits=num_bits), gamma=0.99)
    out = rollout(standard, memoryless(MEMORYLESS["random"](num_bits)), num_bits, jax.random.PRNGKey(1), 12)
    assert np.all(np.isfinite(out[0])) and out[3].sum() == 2
