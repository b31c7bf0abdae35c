"""`evaluate`: the true (unnormalised) episode returns of a trained agent, and videos of its episodes.

    result = rtrl.evaluate(agent, "jax/CountRecallEasy", episodes=20, deterministic=True)
    result.returns, result.lengths        # per episode
    print(result)                         # "return -0.8 ± 0.05 (95% t, n=20); length 52 over 20 episodes ..."

The environment is put behind the agent's training wrapper stack (`TrainedAgent.wrap`) with the
observation statistics and the reward scale *frozen* at their values at the end of training, so
the network sees inputs as it learned them and evaluation changes nothing. The returns reported
are sums of the environment's raw rewards: the episode statistics wrapper sits innermost, under
the reward scaling (or, without wrappers, the rewards are summed as the env returns them).

Which episodes: with ``n`` parallel environments, environment i plays the first q_i episodes of
its own stream, q_i = ⌊N/n⌋ (+1 for the first N mod n environments) — never "the first N episodes
to finish", which would favour short episodes. JAX-native environments run all episodes in one
jitted `lax.while_loop` over ``N`` vmapped environments (one episode each); host environments run
a Python loop with one jitted policy call per step for all their environments.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import validate
from rtrl.agents.policy import TrainedAgent
from rtrl.envs.host import HostEnv
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.spaces import Box, Discrete

__all__ = ["EvaluationResult", "evaluate", "make_raw_env", "record_video"]

HOST_ENVS = 8  # parallel host environments for an env given by name (at most one per episode)


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Per-episode undiscounted returns (raw rewards) and lengths, and how they were obtained."""

    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    env: str
    deterministic: bool
    seed: int

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))

    @property
    def interval(self) -> Any:
        """The mean return and its 95% Student t interval over episodes (`rtrl.experiments.statistics`)."""
        from rtrl.experiments.statistics import interval

        return interval(self.returns)

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "episodes": self.episodes, "deterministic": self.deterministic, "seed": self.seed,
                "return": self.interval.to_dict(), "mean_length": self.mean_length,
                "returns": list(self.returns), "lengths": list(self.lengths)}

    def __str__(self) -> str:
        policy = "deterministic" if self.deterministic else "stochastic"
        return (f"return {self.interval.format()}; mean length {self.mean_length:.4g}; {self.episodes} episode(s) "
                f"of {self.env}, {policy} policy, seed {self.seed}")


def make_raw_env(agent: TrainedAgent, env: Any = None, num_envs: int | None = None) -> JaxEnv | HostEnv:
    """The unwrapped environment ``env`` names or is.

    None: the agent's training environment (``config.env`` with ``config.env_options``); a name of
    `rtrl.envs.names()` (options only if it is the training env); a gymnasium id or a
    ``gymnasium.Env`` instance (adapted with `rtrl.envs.from_gymnasium`); or an rtrl `JaxEnv` /
    `HostEnv`, used as it is. ``num_envs`` sets the batch of an env made here (None: unbatched
    JAX-native, one host env).
    """
    from rtrl import envs

    if env is None:
        env = agent.config.env
    if isinstance(env, (JaxEnv, HostEnv)):
        return env
    if isinstance(env, str):
        try:
            spec = envs.spec(env)
        except ValueError as unknown:
            if _is_gymnasium_id(env):
                return envs.from_gymnasium(env, num_envs or 1)
            raise unknown from None
        options = dict(agent.config.env_options) if env == agent.config.env else {}
        if spec.backend == "jax":
            if num_envs is not None:
                options["num_envs"] = num_envs
        else:
            options["num_envs"] = num_envs or 1
        return envs.make(env, **options)
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a dependency
        gymnasium = None
    if gymnasium is not None and isinstance(env, gymnasium.Env):
        return envs.from_gymnasium(env)
    raise TypeError(f"env must be an environment name (rtrl.envs.names() or a gymnasium id), a gymnasium.Env, or an "
                    f"rtrl JaxEnv/HostEnv; got {type(env).__name__}.")


def _is_gymnasium_id(name: str) -> bool:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover
        return False
    return name in gymnasium.registry


def evaluate(agent: TrainedAgent, env: Any = None, episodes: int = 10, *, deterministic: bool = False,
             seed: int = 0, max_steps: int = 100_000) -> EvaluationResult:
    """Play ``episodes`` episodes with ``agent`` and report their true returns and lengths.

    Args:
      agent: a `TrainedAgent`.
      env: the environment (see `make_raw_env`; default the agent's training env), raw: the agent's
        wrapper stack is put around it with its statistics frozen.
      episodes: number of episodes.
      deterministic: act with the policy's mode (argmax / mean) instead of sampling.
      seed: seeds the environments' resets and the action sampling.
      max_steps: the most steps any one environment may take; episodes not finished by then are an
        error (an environment without a time limit).
    """
    if not isinstance(agent, TrainedAgent):
        raise TypeError(f"agent must be a TrainedAgent (rtrl.train, rtrl.load), got {type(agent).__name__}.")
    episodes = validate.positive_int("episodes", episodes)
    seed = validate.non_negative_int("seed", seed)
    max_steps = validate.positive_int("max_steps", max_steps)
    deterministic = validate.boolean("deterministic", deterministic)
    named = env is None or isinstance(env, str)
    raw = make_raw_env(agent, env, None if not named or _jax_name(env, agent) else min(episodes, HOST_ENVS))
    wrapped = agent.wrap(raw)
    _check_compatible(agent, wrapped)
    if isinstance(wrapped, JaxEnv):
        returns, lengths = _evaluate_jax(agent, wrapped, episodes, deterministic, seed, max_steps)
    else:
        returns, lengths = _evaluate_host(agent, wrapped, episodes, deterministic, seed, max_steps)
    name = env if isinstance(env, str) else agent.config.env if env is None else raw.name
    return EvaluationResult(tuple(float(r) for r in returns), tuple(int(n) for n in lengths), name, deterministic,
                            seed)


def _jax_name(env: str | None, agent: TrainedAgent) -> bool:
    from rtrl import envs

    name = agent.config.env if env is None else env
    try:
        return envs.spec(name).backend == "jax"
    except ValueError:
        return False


def _check_compatible(agent: TrainedAgent, env: JaxEnv | HostEnv) -> None:
    shape = env.observation_space.shape
    if tuple(shape) != agent.observation_shape:
        raise ValueError(f"env {env.name} gives observations of shape {shape} behind the agent's wrappers; the agent "
                         f"was trained on {agent.config.env} with observations of shape {agent.observation_shape}.")
    space, net = env.action_space, agent.network
    if isinstance(space, Discrete) != net.discrete or \
            (isinstance(space, Discrete) and space.n != net.action_size) or \
            (isinstance(space, Box) and space.shape != (net.action_size,)):
        raise ValueError(f"env {env.name} has actions {space}; the agent was trained on {agent.config.env} with "
                         f"{agent.action_space}.")


def _quotas(episodes: int, num_envs: int) -> np.ndarray:
    """q_i = ⌊N/n⌋ episodes for environment i, plus one for the first N mod n."""
    q = np.full(num_envs, episodes // num_envs, np.int32)
    q[: episodes % num_envs] += 1
    return q


def _gather(returns: np.ndarray, lengths: np.ndarray, quotas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Environment-major list of each environment's first q_i episodes."""
    keep = np.arange(returns.shape[1])[None, :] < quotas[:, None]
    return returns[keep], lengths[keep]


def _unfinished(counts: np.ndarray, quotas: np.ndarray, max_steps: int, name: str) -> ValueError:
    done = int(np.minimum(counts, quotas).sum())
    return ValueError(f"only {done} of {int(quotas.sum())} episodes of {name} ended within max_steps={max_steps} "
                      "steps per environment; raise max_steps (an environment without a time limit never ends).")


def _evaluate_jax(agent: TrainedAgent, env: JaxEnv, episodes: int, deterministic: bool, seed: int,
                  max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    if env.batch_shape == ():
        env = VmapEnv(env, episodes)
    if len(env.batch_shape) != 1:
        raise ValueError(f"env {env.name} has batch shape {env.batch_shape}; give an unbatched or singly batched env.")
    quotas = _quotas(episodes, env.batch_shape[0])
    returns, lengths, counts = jax.device_get(_play_jax(agent.params, jax.random.PRNGKey(seed), env, agent.network,
                                                        agent.action_space, tuple(quotas.tolist()), deterministic,
                                                        max_steps))
    if np.any(counts < quotas):
        raise _unfinished(counts, quotas, max_steps, env.name)
    return _gather(returns, lengths, quotas)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7))
def _play_jax(params: Any, key: jax.Array, env: JaxEnv, net: Any, space: Any, quotas: tuple[int, ...],
              deterministic: bool, max_steps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Every environment of the batch plays until it has finished its quota of episodes (one jitted
    `lax.while_loop`); returns (returns (n, max quota), lengths, episodes finished per env). Static
    arguments are hashable, so evaluating the same agent on the same env again reuses the compilation."""
    from rtrl.agents.rollout import env_action, track_episodes

    n, slots = len(quotas), max(quotas)
    q = jnp.asarray(quotas, jnp.int32)
    k_reset, key = jax.random.split(key)
    env_state, obs = env.reset(k_reset)
    zf, zi = jnp.zeros(n, jnp.float32), jnp.zeros(n, jnp.int32)
    init = {"env_state": env_state, "obs": obs, "first": jnp.ones(n, bool), "carry": net.initial_carry(params, n),
            "key": key, "running_return": zf, "running_length": zi, "count": zi, "t": jnp.zeros((), jnp.int32),
            "returns": jnp.zeros((n, slots), jnp.float32), "lengths": jnp.zeros((n, slots), jnp.int32)}

    def body(s):
        key, k_act, k_env = jax.random.split(s["key"], 3)
        carry, policy, _ = net.step(params, s["carry"], s["obs"], s["first"])
        action = policy.mode() if deterministic else policy.sample(k_act)
        env_state, obs, reward, done, info = env.step(s["env_state"], env_action(space, action), k_env)
        # the raw return: the episode statistics wrapper (innermost, under the reward scaling) where present
        ep = track_episodes(jnp, s["running_return"], s["running_length"], reward, done, info)
        finished_return, finished_length = ep.finished_return, ep.finished_length
        record = done & (s["count"] < q)
        slot = jnp.minimum(s["count"], slots - 1)
        rows = jnp.arange(n)
        returns = s["returns"].at[rows, slot].set(jnp.where(record, finished_return, s["returns"][rows, slot]))
        lengths = s["lengths"].at[rows, slot].set(jnp.where(record, finished_length, s["lengths"][rows, slot]))
        return {"env_state": env_state, "obs": obs, "first": done, "carry": carry, "key": key,
                "running_return": ep.running_return, "running_length": ep.running_length,
                "count": s["count"] + done.astype(jnp.int32), "t": s["t"] + 1, "returns": returns,
                "lengths": lengths}

    def more(s):
        return jnp.any(s["count"] < q) & (s["t"] < max_steps)

    final = jax.lax.while_loop(more, body, init)
    return final["returns"], final["lengths"], final["count"]


def _evaluate_host(agent: TrainedAgent, env: HostEnv, episodes: int, deterministic: bool, seed: int,
                   max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    from rtrl.agents.rollout import track_episodes

    n = env.num_envs
    quotas = _quotas(episodes, n)
    slots = int(quotas.max())
    returns, lengths = np.zeros((n, slots), np.float32), np.zeros((n, slots), np.int32)
    counts = np.zeros(n, np.int32)
    running_return, running_length = np.zeros(n, np.float32), np.zeros(n, np.int32)
    obs, first = env.reset(seed=seed), np.ones(n, bool)
    carry = agent.initial_carry(n)
    key = jax.random.PRNGKey(seed)
    for _ in range(max_steps):
        if np.all(counts >= quotas):
            break
        key, k_act = jax.random.split(key)
        action, carry = agent.act(obs, carry, first, key=None if deterministic else k_act,
                                  deterministic=deterministic)
        obs, reward, done, info = env.step(np.asarray(action))
        ep = track_episodes(np, running_return, running_length, reward, done, info)  # raw: see _evaluate_jax
        running_return, running_length = ep.running_return, ep.running_length
        finished_return, finished_length = ep.finished_return, ep.finished_length
        for i in np.flatnonzero(done & (counts < quotas)):
            returns[i, counts[i]], lengths[i, counts[i]] = finished_return[i], finished_length[i]
        counts += done
        first = done
    if np.any(counts < quotas):
        raise _unfinished(counts, quotas, max_steps, env.name)
    return _gather(returns, lengths, quotas)


# -- video -------------------------------------------------------------------------------------------


def video_support(agent: TrainedAgent, env: Any = None, path: str = "episode.gif") -> str | None:
    """Why a video of ``env`` cannot be written to ``path`` (a message starting "video needs"), or None."""
    from rtrl import envs

    name = agent.config.env if env is None else env
    if isinstance(name, JaxEnv) or (isinstance(name, str) and _jax_name(name, agent)):
        shown = name if isinstance(name, str) else name.name
        return (f"video needs an environment that renders frames (render_mode='rgb_array'); {shown} is JAX-native "
                "and has no renderer. Evaluate it without --video.")
    if isinstance(name, str) and not _is_gymnasium_id(name) and "render_mode" not in envs.spec(name).options:
        return (f"video needs an environment that renders frames (render_mode='rgb_array'); {name} has no "
                "render_mode option.")
    if importlib.util.find_spec("imageio") is None:
        return "video needs imageio: pip install imageio (and imageio-ffmpeg for .mp4)."
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in (".gif", ".mp4"):
        return f"video needs a .gif or .mp4 file name, got {path!r}."
    if ext == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        return "video needs imageio-ffmpeg for .mp4 (pip install imageio-ffmpeg), or give a .gif file name."
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"video needs an existing directory to write {path!r} into; {directory!r} does not exist."
    return None


def record_video(agent: TrainedAgent, path: str, env: Any = None, *, deterministic: bool = False, seed: int = 0,
                 fps: int = 30, max_steps: int = 10_000) -> int:
    """Play one episode on one host environment and write its rendered frames to ``path`` (.gif, or
    .mp4 with imageio-ffmpeg); returns the number of frames.

    ``env``: as for `evaluate` but rendering: a gymnasium id or name is made with
    ``render_mode="rgb_array"``; a gymnasium.Env instance must have been made with it.
    """
    problem = video_support(agent, env, path)
    if problem:
        raise ValueError(problem)
    raw, gym_env = _rendering_env(agent, env)
    frames = []
    wrapped = agent.wrap(raw)
    _check_compatible(agent, wrapped)
    obs, first = wrapped.reset(seed=seed), np.ones(1, bool)
    carry, key = agent.initial_carry(1), jax.random.PRNGKey(seed)
    frames.append(_frame(gym_env))
    for _ in range(max_steps):
        key, k_act = jax.random.split(key)
        action, carry = agent.act(obs, carry, first, key=None if deterministic else k_act,
                                  deterministic=deterministic)
        obs, _, done, _ = wrapped.step(np.asarray(action))
        if done[0]:
            break  # the env has already reset: its current frame belongs to the next episode
        frames.append(_frame(gym_env))
        first = done
    import imageio

    if str(path).lower().endswith(".gif"):
        imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    else:
        imageio.mimsave(path, frames, fps=fps)
    return len(frames)


def _rendering_env(agent: TrainedAgent, env: Any) -> tuple[HostEnv, Any]:
    """One host env that renders rgb_array frames (a name is made with ``render_mode="rgb_array"``),
    and the gymnasium env inside it that draws them."""
    from rtrl import envs
    from rtrl.envs.host import GymnasiumEnvs

    name = agent.config.env if env is None else env
    if isinstance(name, str):
        if _is_gymnasium_id(name):
            raw = envs.from_gymnasium(name, 1, render_mode="rgb_array")
        else:
            options = dict(agent.config.env_options) if name == agent.config.env else {}
            raw = envs.make(name, **{**options, "num_envs": 1, "render_mode": "rgb_array"})
    else:
        raw = make_raw_env(agent, env, 1)
    base = envs.wrappers.unwrapped(raw)  # under the env's own wrappers (e.g. the -P/-V observation mask)
    if not isinstance(base, GymnasiumEnvs) or base.num_envs != 1 or base.envs[0].render_mode != "rgb_array":
        raise ValueError(f"video needs one gymnasium environment made with render_mode='rgb_array'; got {raw.name}.")
    return raw, base.envs[0]


def _frame(gym_env: Any) -> np.ndarray:
    try:
        frame = gym_env.render()
    except Exception as e:  # a renderer that cannot start (no display, no OpenGL): say so plainly
        raise ValueError(f"video needs an environment that renders rgb_array frames; rendering failed: "
                         f"{type(e).__name__}: {e} (MuJoCo without a display: set MUJOCO_GL=egl or osmesa)") from None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise ValueError(f"video needs rgb_array frames (height, width, 3); the environment rendered "
                         f"{type(frame).__name__}.")
    return frame
