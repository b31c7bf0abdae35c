"""Experiments: configs, run directories, plots, online prediction runs and their presets.

`prediction` runs one learner on one conditioning task over several seeds; `comparison` runs
several on the same streams; `presets` names the comparisons (`rtrl demo`, `rtrl compare`).
"""

from rtrl.experiments import comparison, config, plots, prediction, presets, run_dir
from rtrl.experiments.prediction import PredictionConfig, PredictionResult

__all__ = ["PredictionConfig", "PredictionResult", "comparison", "config", "plots", "prediction", "presets",
           "run_dir"]
