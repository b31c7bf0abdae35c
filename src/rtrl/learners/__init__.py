"""Online TD(λ) prediction learners for recurrent networks: exact RTRL and truncated BPTT.

    config = TDConfig(cell="rtu-linear", hidden_size=32, learner="rtrl", gamma=0.9, lambda_=0.9)
    learner = make_learner(config, observation_size)
    state = learner.init(key)
    state, predictions = learner.run(state, observations)   # (T, obs_size) -> V_t (T,)

`rtrl.learners.td_lambda` states the recursion; `rtrl_td` and `tbptt_td` say how ∇_θ V_t is computed.
Supervised sequence learners (RTRL, T-BPTT(k), BPTT; the copy task): `rtrl.learners.supervised`.
"""

from rtrl.learners.config import LEARNERS, OPTIMIZERS, TDConfig
from rtrl.learners.make import make_learner
from rtrl.learners import supervised
from rtrl.learners.rtrl_td import RTRLValue
from rtrl.learners.tbptt_td import TBPTTValue
from rtrl.learners.td_lambda import TDLambdaState, TDLearner, ValueGradient, apply_head, init_head, make_optimizer

__all__ = [
    "LEARNERS",
    "OPTIMIZERS",
    "RTRLValue",
    "TBPTTValue",
    "TDConfig",
    "TDLambdaState",
    "TDLearner",
    "ValueGradient",
    "apply_head",
    "init_head",
    "make_learner",
    "make_optimizer",
    "supervised",
]
