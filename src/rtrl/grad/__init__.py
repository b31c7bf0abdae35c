"""Gradient estimators over sequences: the BPTT reference, summed RTRL, rolling-window T-BPTT."""

from rtrl.grad.bptt import LossFn, bptt_gradient
from rtrl.grad.rtrl import rtrl_gradient
from rtrl.grad.tbptt import Window, init_window, push, window_gradient
from rtrl.grad.unroll import unroll

__all__ = ["LossFn", "Window", "bptt_gradient", "init_window", "push", "rtrl_gradient", "unroll",
           "window_gradient"]
