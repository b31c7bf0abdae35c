"""Test-wide settings.

* 64-bit mode on: the exactness tests run in float64 (cells still default to float32, which the
  contract tests check).
* XLA's backend optimisation off: the suite is dominated by compiling many small programs, and
  -O0 halves that. Exactness is algebraic and does not depend on it; the CLI test runs
  ``rtrl gradcheck`` in a subprocess with the default (optimised) flags.
"""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update("jax_enable_x64", True)
