"""rtrl: online training of recurrent networks with exact real-time recurrent learning, in JAX.

Packages: `rtrl.cells` (cells and their RTRL traces), `rtrl.grad` (RTRL, T-BPTT, the BPTT
reference), `rtrl.learners` (online TD(λ) prediction learners), `rtrl.networks` (encoders and recurrent stacks), `rtrl.cost` (FLOPs and memory per step),
`rtrl.tasks` (the classical-conditioning prediction tasks, true returns and the oracle), `rtrl.envs`
(partially observable environments: JAX-native POPGym ports, popgym, MuJoCo POMDPs, Atari), `rtrl.agents`
(PPO agents: Real-Time PPO with RTRL, recurrent PPO with T-BPTT, MLP PPO).

The Python API of trained agents (`rtrl.api`): ``rtrl.train(config)`` runs what ``rtrl train`` runs
and returns a `TrainedRun` (``.agent``, ``.agents``, ``.summary``, ``.run_dir``); a `TrainedAgent`
acts with an explicit recurrent carry; ``rtrl.evaluate(agent, env, episodes)`` reports true episode
returns; ``agent.save(path)`` / ``rtrl.load(path)``.
"""

__version__ = "0.1.0"

from rtrl.xla_cpu import unroll_threefry_on_cpu  # noqa: E402

unroll_threefry_on_cpu()  # the same random numbers, without a loop per draw on XLA CPU (see rtrl.xla_cpu)

from rtrl import agents, cells, cost, envs, grad, learners, networks, tasks  # noqa: E402
from rtrl.api import EvaluationResult, TrainedAgent, TrainedRun, evaluate, load, train  # noqa: E402

__all__ = ["EvaluationResult", "TrainedAgent", "TrainedRun", "agents", "cells", "cost", "envs", "evaluate", "grad",
           "learners", "load", "networks", "tasks", "train", "__version__"]
