"""The JAX ports against the popgym package (POPGym, Morad et al. 2023), one test per level.

For every port:
* exact: two popgym episodes (a scripted memory policy, and the same policy with 30% random
  actions) are replayed in the port from the same shuffled decks (``from_popgym``); observation
  vectors, rewards and terminated/truncated flags must be identical at every step;
* optimal: the scripted policy earns the best return (1) where it is known;
* random: uniform random actions give the same mean return in both (and the analytical value
  where there is one), over 32 episodes each.
The Medium levels are marked slow (run them with ``-m slow``).
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import popgym.envs
import pytest
from _envs_testing import jax_rollout

import rtrl.envs as E
from rtrl.envs.popgym_jax import PORTS, make_port

EPISODES = 32


# --- scripted policies that read only the flattened observations --------------------------------
class RepeatPreviousPolicy:
    def __init__(self, port):
        self.k, self.seen = port.k, []

    def observe(self, obs, action=None):
        self.seen.append(int(obs.argmax()))

    def act(self):
        t = len(self.seen)
        return self.seen[t - self.k] if t >= self.k else 0


class RepeatFirstPolicy:
    def __init__(self, port):
        self.first = None

    def observe(self, obs, action=None):
        self.first = int(obs.argmax()) if self.first is None else self.first

    def act(self):
        return self.first


class CountRecallPolicy:
    def __init__(self, port):
        self.d = port.num_distinct
        self.counts = np.zeros(self.d, int)

    def observe(self, obs, action=None):
        self.counts[obs[: self.d].argmax()] += 1
        self.query = obs[self.d :].argmax()

    def act(self):
        return int(self.counts[self.query])


class AutoencodePolicy:
    def __init__(self, port):
        self.stack, self.watching = [], True

    def observe(self, obs, action=None):
        if self.watching:
            self.stack.append(int(obs[2:].argmax()))
            self.watching = bool(obs[:2].argmax() == 1)

    def act(self):
        return 0 if self.watching else self.stack.pop()


class HigherLowerPolicy:
    """Card counting: guess higher when more of the unseen cards are higher."""

    def __init__(self, port):
        self.left = np.full(13, 4 * port.num_decks)

    def observe(self, obs, action=None):
        self.rank = int(obs.argmax())
        self.left[self.rank] -= 1

    def act(self):
        return 0 if self.left[self.rank + 1 :].sum() >= self.left[: self.rank].sum() else 1


class ConcentrationPolicy:
    """Perfect memory: flip a known pair, else an unseen card, then its known match if any."""

    def __init__(self, port):
        self.n, self.f = port.num_cards, port.face_down
        self.known, self.face_up, self.pending = {}, set(), None

    def observe(self, obs, action=None):
        vals = obs.reshape(self.n, self.f + 1).argmax(-1)
        for p in np.flatnonzero(vals != self.f):
            self.known[int(p)] = int(vals[p])
        if action is None:
            return
        if action in self.face_up or (self.pending is not None and self.pending in self.face_up):
            self.pending = None
        elif self.pending is None:
            self.pending = action
        else:
            if self.known[self.pending] == self.known[action] and self.pending != action:
                self.face_up |= {self.pending, action}
            self.pending = None

    def act(self):
        down = [p for p in range(self.n) if p not in self.face_up]
        unseen = [p for p in down if p not in self.known and p != self.pending]
        if self.pending is None:
            by_value = {}
            for p in down:
                if p in self.known:
                    by_value.setdefault(self.known[p], []).append(p)
            pairs = [ps for ps in by_value.values() if len(ps) >= 2]
            return pairs[0][0] if pairs else (unseen or down)[0]
        match = [p for p in down if p != self.pending and self.known.get(p) == self.known[self.pending]]
        return (match or unseen or [p for p in down if p != self.pending])[0]


POLICIES = {
    "RepeatPrevious": RepeatPreviousPolicy,
    "RepeatFirst": RepeatFirstPolicy,
    "CountRecall": CountRecallPolicy,
    "Autoencode": AutoencodePolicy,
    "HigherLower": HigherLowerPolicy,
    "Concentration": ConcentrationPolicy,
}


def _family(level: str) -> str:
    return level.replace("Easy", "").replace("Medium", "").replace("Hard", "")


def _max_steps(port) -> int:
    family, n = type(port).__name__, port.num_cards
    return {"Autoencode": 2 * n - 1, "Concentration": getattr(port, "episode_length", 0)}.get(family, n - 1)


def _random_return(port) -> float | None:
    """Expected return of uniform random actions, where it has a closed form."""
    family = type(port).__name__
    if family in ("RepeatPrevious", "RepeatFirst", "Autoencode"):
        return 0.25 - 0.75  # right 1 time in 4
    if family == "CountRecall":
        return 2.0 / port.action_space.n - 1.0
    if family == "HigherLower":
        return 0.0  # +1/N and -1/N equally likely whatever the guess
    return None


def _play_popgym(level, port, seed, policy_cls, epsilon, rng):
    """One popgym episode; returns the port's aligned ``(state, obs)`` and the per-step records."""
    env = getattr(popgym.envs, level)()
    o, _ = env.reset(seed=seed)
    init = jax.tree.map(np.asarray, port.from_popgym(env)) if policy_cls else None
    flat = lambda o: gym.spaces.utils.flatten(env.observation_space, o).astype(np.float32)  # noqa: E731
    policy = policy_cls(port) if policy_cls else None
    if policy:
        policy.observe(flat(o))
    actions, obs, rew, term, trunc = [], [], [], [], []
    done = False
    while not done:
        a = int(rng.integers(port.action_space.n)) if policy is None or rng.random() < epsilon else int(policy.act())
        o, r, te, tr, _ = env.step(a)
        actions.append(a)
        obs.append(flat(o))
        rew.append(r)
        term.append(te)
        trunc.append(tr)
        if policy:
            policy.observe(obs[-1], a)
        done = te or tr
    return init, dict(
        actions=np.array(actions), obs=np.stack(obs), rew=np.array(rew), term=np.array(term), trunc=np.array(trunc)
    )


def _port_rollout(port, aligned, actions, key):
    """One jitted program: reset the random envs, prepend the aligned ones, scan ``actions``."""
    batch = actions.shape[1]
    env = E.VmapEnv(port, batch)

    def run(aligned, actions, key):
        k_reset, k_steps = jax.random.split(key)
        random = jax.vmap(port.reset)(jax.random.split(k_reset, batch - 2))
        state, _ = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), aligned, random)

        def body(carry, a):
            s, k = carry
            k, sub = jax.random.split(k)
            s, o, r, d, i = env.step(s, a, sub)
            return (s, k), (o, r, d, i)

        return jax.lax.scan(body, (state, k_steps), actions)[1]

    return jax.tree.map(np.asarray, jax.jit(run)(aligned, jnp.asarray(actions), key))


def _first_episode_returns(rew, done):
    """Sum of rewards up to and including each column's first done."""
    upto = np.cumsum(done, axis=0) - done  # number of dones strictly before each step
    return np.where(upto == 0, rew, 0).sum(0)


# Medium levels run with -m slow (each level is one XLA compile, ~1 s); Easy and Hard cover every
# code path and the extreme parameters in the default suite.
LEVELS = [pytest.param(lvl, marks=pytest.mark.slow) if lvl.endswith("Medium") else lvl for lvl in PORTS]


@pytest.mark.parametrize("level", LEVELS)
def test_port_matches_popgym(level):
    port = make_port(level)
    policy_cls = POLICIES[_family(level)]
    rng = np.random.default_rng(list(PORTS).index(level))
    t_max = _max_steps(port)

    # popgym: the scripted policy, the policy with 30% random actions, and EPISODES random episodes
    runs = [_play_popgym(level, port, 100, policy_cls, 0.0, rng), _play_popgym(level, port, 101, policy_cls, 0.3, rng)]
    pop_random = [_play_popgym(level, port, 200 + i, None, 1.0, rng)[1]["rew"].sum() for i in range(EPISODES)]

    # the port: the two aligned episodes followed by EPISODES random ones, in one vmapped scan
    batch = 2 + EPISODES
    aligned = jax.tree.map(lambda *x: np.stack(x), *[r[0] for r in runs])  # (state, obs), on the host
    actions = np.zeros((t_max, batch), np.int32)
    for j, (_, rec) in enumerate(runs):
        actions[: len(rec["actions"]), j] = rec["actions"]
    actions[:, 2:] = rng.integers(port.action_space.n, size=(t_max, EPISODES))
    obs, rew, done, info = _port_rollout(port, aligned, actions, jax.random.PRNGKey(7))

    assert obs.dtype == np.float32 and rew.dtype == np.float32 and done.dtype == bool
    for j, (_, rec) in enumerate(runs):
        n = len(rec["actions"])
        np.testing.assert_array_equal(info["final_obs"][:n, j], rec["obs"], err_msg=f"episode {j}: observations")
        np.testing.assert_array_equal(rew[:n, j], rec["rew"].astype(np.float32), err_msg=f"episode {j}: rewards")
        np.testing.assert_array_equal(info["terminated"][:n, j], rec["term"], err_msg=f"episode {j}: terminated")
        np.testing.assert_array_equal(info["truncated"][:n, j], rec["trunc"], err_msg=f"episode {j}: truncated")
        assert done[n - 1, j] and not done[: n - 1, j].any()
        np.testing.assert_array_equal(obs[: n - 1, j], rec["obs"][:-1])  # not done: obs == final_obs

    # optimal returns (known to be 1 for the recall tasks) and better-than-random for the games
    best = runs[0][1]["rew"].sum()
    jax_returns = _first_episode_returns(rew, done)
    np.testing.assert_allclose(jax_returns[0], best, atol=1e-5)
    if _random_return(port) is not None and type(port).__name__ != "HigherLower":
        np.testing.assert_allclose(best, 1.0, atol=1e-9)

    # random actions: same mean return in both, and the closed form where there is one
    jr, pr = jax_returns[2:], np.array(pop_random)
    se = np.sqrt(jr.var() / len(jr) + pr.var() / len(pr)) + 1e-6
    assert abs(jr.mean() - pr.mean()) < 4 * se + 1e-3, (jr.mean(), pr.mean(), se)
    expected = _random_return(port)
    if expected is not None:
        for returns in (jr, pr):
            assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(len(returns)) + 1e-3
    assert best > max(jr.mean(), pr.mean()) + 0.1  # the memory policy beats random play


def test_ports_have_popgyms_spaces():
    """Observation sizes equal gymnasium's flattened popgym spaces; action spaces are equal."""
    for level in PORTS:
        port, env = make_port(level), getattr(popgym.envs, level)()
        assert port.observation_space.shape == (gym.spaces.utils.flatdim(env.observation_space),), level
        assert port.action_space == E.spaces.from_gymnasium_action_space(env.action_space), level


def test_port_is_a_pure_function_of_the_key():
    env = E.make("jax/ConcentrationEasy", num_envs=4)
    actions = np.tile(np.arange(20, dtype=np.int32)[:, None], (1, 4))
    a = jax_rollout(env, actions, jax.random.PRNGKey(3))
    b = jax_rollout(env, actions, jax.random.PRNGKey(3))
    c = jax_rollout(env, actions, jax.random.PRNGKey(4))
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    assert not np.array_equal(a[1], c[1])
