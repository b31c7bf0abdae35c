"""Agents for partially observable RL: PPO agents (Real-Time PPO with RTRL, recurrent PPO with T-BPTT,
MLP PPO), streaming agents (stream-ac, stream-q: an update every step, batch size 1) and R2AC (Irie et
al.'s real-time recurrent actor-critic: IMPALA's V-trace with an RTRL cell).

    config = rtrl.agents.PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192)
    agent = rtrl.agents.make(config, rtrl.envs.make("jax/CountRecallEasy"))
    state = agent.init(jax.random.PRNGKey(0))
    state, metrics = agent.iteration(state)

Modules, one topic each: `ppo` (GAE, the clipped loss, the optimiser), `update` (the one PPO
update loop: epochs × minibatches), `real_time_ppo` and `tbptt_ppo` (each agent's loss and data
path on that loop; MLP PPO uses Real-Time PPO's with no carry), `rollout` (run state, stored
rollouts, the JAX and host rollout loops), `network` (encoder → cell → actor/critic heads, Elelimy
et al. 2024, arXiv 2409.01449), `distributions` (Categorical, DiagGaussian), `budget` (parameter
counts, hidden size for a budget), `config` (PPOConfig), `agent` (`make`, `Agent`); trained agents:
`policy` (`TrainedAgent`: act with an explicit carry), `evaluation` (`evaluate`: true episode returns),
`saving` (`save`/`load`: one .npz with named parameters). Streaming agents: `stream` (the shared
streaming loop), `stream_rule`, `stream_ac`, `stream_q` (each agent's TD error, gradients and acting),
`obgd` (ObGD, Adam on δ·z), `stream_network`, `stream_config` (StreamConfig). Off-policy
actor-critic: `vtrace` (V-trace targets and advantages, IMPALA's loss pieces), `r2ac` (the agent),
`r2ac_config` (R2ACConfig). `families`: which config class, agent names and TrainConfig section
each family has.
"""

from rtrl.agents import families, ppo, vtrace
from rtrl.agents.agent import Agent, make, to_numpy
from rtrl.agents.config import ACTIONS, AGENTS, STALENESS, PPOConfig
from rtrl.agents.budget import ParameterCount, hidden_size_for_budget, parameter_count, recurrent_parameter_count
from rtrl.agents.distributions import Categorical, DiagGaussian
from rtrl.agents.network import ActorCritic
from rtrl.agents.evaluation import EvaluationResult, evaluate, record_video
from rtrl.agents.policy import TrainedAgent, WrapperStatistics
from rtrl.agents.r2ac import R2ACAgent, R2ACLearnerState
from rtrl.agents.r2ac_config import R2AC_AGENTS, R2AC_GRADIENTS, R2ACConfig
from rtrl.agents.rollout import Rollout, RunState
from rtrl.agents.saving import load, save
from rtrl.agents.stream import StreamAgent, StreamLearnerState
from rtrl.agents.stream_config import STREAM_AGENTS, STREAM_GRADIENTS, STREAM_OPTIMIZERS, StreamConfig

__all__ = [
    "ACTIONS",
    "AGENTS",
    "ActorCritic",
    "Agent",
    "Categorical",
    "DiagGaussian",
    "EvaluationResult",
    "PPOConfig",
    "ParameterCount",
    "R2ACAgent",
    "R2ACConfig",
    "R2ACLearnerState",
    "R2AC_AGENTS",
    "R2AC_GRADIENTS",
    "Rollout",
    "RunState",
    "STALENESS",
    "STREAM_AGENTS",
    "STREAM_GRADIENTS",
    "STREAM_OPTIMIZERS",
    "StreamAgent",
    "StreamConfig",
    "StreamLearnerState",
    "TrainedAgent",
    "WrapperStatistics",
    "evaluate",
    "families",
    "hidden_size_for_budget",
    "load",
    "make",
    "parameter_count",
    "ppo",
    "record_video",
    "recurrent_parameter_count",
    "save",
    "to_numpy",
    "vtrace",
]
