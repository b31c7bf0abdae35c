"""Episode return and length bookkeeping, written once over an array namespace (numpy or jax.numpy).

Used by the episode-statistics wrappers of both back-ends and by the agents' rollouts. With the
auto-reset convention of `rtrl.envs` (``done_t`` true on the step that ends an episode):

    G_t = G_{t-1} + r_t,   L_t = L_{t-1} + 1                 (the running episode, before the reset)
    finished_t = (G_t, L_t) where done_t, else (0, 0)
    running_t  = (0, 0) where done_t, else (G_t, L_t)         (the next episode starts at zero)
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["EpisodeStep", "episode_step"]


class EpisodeStep(NamedTuple):
    running_return: Any  # (*batch,) float32: return of the episode still running after this step
    running_length: Any  # (*batch,) int32
    finished_return: Any  # (*batch,) float32: return of the episode that ended at this step (0 where not done)
    finished_length: Any  # (*batch,) int32


def episode_step(xp: Any, episode_return: Any, episode_length: Any, reward: Any, done: Any) -> EpisodeStep:
    """One step of the running undiscounted return and length (see the module docstring).

    ``xp`` is ``numpy`` or ``jax.numpy``; arrays share the batch shape of ``done``.
    """
    ret = (episode_return + reward).astype(xp.float32)
    length = (episode_length + 1).astype(xp.int32)
    zero_f, zero_i = xp.zeros_like(ret), xp.zeros_like(length)
    return EpisodeStep(xp.where(done, zero_f, ret), xp.where(done, zero_i, length),
                       xp.where(done, ret, zero_f), xp.where(done, length, zero_i))
