"""Experiments: configs, run directories, statistics, memory checks, plots, prediction and training runs.

`prediction` runs one learner on one conditioning task over several seeds; `comparison` runs
several on the same streams; `presets` names the comparisons (`rtrl demo`, `rtrl compare`);
`training` runs the PPO agents (`rtrl train`). `statistics` is the one confidence interval over
seeds; `memory` refuses a run that will not fit before any work.
"""

from rtrl.experiments import comparison, config, memory, plots, prediction, presets, run_dir, statistics
from rtrl.experiments.prediction import PredictionConfig, PredictionResult

__all__ = ["PredictionConfig", "PredictionResult", "comparison", "config", "memory", "plots", "prediction",
           "presets", "run_dir", "statistics"]
