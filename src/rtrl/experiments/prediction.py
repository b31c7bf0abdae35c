"""Online prediction experiments: one learner on one conditioning task, several seeds at once.

    config = PredictionConfig(task="trace-conditioning", task_options={"isi": 10}, cell="rtu-linear",
                              hidden_size=32, learner="rtrl", steps=100_000, seeds=3)
    result = run(config)              # every seed under vmap, the stream in jitted chunks
    write(result, "runs/my-run")      # config.yaml, seed_<k>.csv, summary.json, tb/, learning_curve.png

Each seed k has its own stream and its own initial parameters, both from ``seed + k``, so that
two learners run with the same ``seed`` see exactly the same streams. The stream is generated,
learned from and scored chunk by chunk (``chunk`` steps per jitted call, a progress bar in
between); only the predictions and the cumulants are kept, so memory is O(steps · seeds).

The metric (Rafiee et al. 2022): after the stream, the true return G_t = Σ_k γ^k c_{t+1+k} is
computed from the cumulants (`rtrl.tasks.returns`; the unseen tail beyond the last step counts as
zero), and the squared return error (V_t − G_t)² is averaged over the whole run (MSRE), over the
last ``final_window`` steps, and over consecutive windows for the learning curve. The same is
done for the zero predictor and for the oracle — the best possible prediction from the full
history, computed exactly (`rtrl.tasks.Oracle`): no learner can beat it without seeing the future.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import cells, cost, tasks, validate
from rtrl.experiments import memory, plots, run_dir, statistics
from rtrl.experiments.config import field
from rtrl.frozendict import FrozenDict
from rtrl.learners import TDConfig, make_learner


@dataclasses.dataclass(frozen=True)
class PredictionConfig:
    """One online prediction run: a task, a learner, a budget of steps and a number of seeds."""

    task: str = field("trace-conditioning", "task: one of rtrl.tasks.names()")
    task_options: Mapping[str, Any] = field(None, "task options, e.g. {isi: 10, iti: [80, 120], num_distractors: 0}")
    cell: str = field("rtu-linear", "recurrent cell: one of rtrl.cells.names()")
    hidden_size: int = field(32, "units of the recurrent cell")
    cell_options: Mapping[str, Any] = field(None, "the cell's options, e.g. {activation: tanh}")
    projection: int = field(0, "width of a projection layer between the cell and the value head (0: none)")
    projection_activation: str = field("relu", "the projection's activation: relu, tanh or identity")
    learner: str = field("rtrl", "how the gradient of V is computed: rtrl or tbptt")
    truncation: int | None = field(None, "T for learner=tbptt")
    lambda_: float = field(0.9, "eligibility-trace decay λ of TD(λ)")
    optimizer: str = field("adam", "adam or sgd")
    step_size: float = field(1e-3, "the optimizer's step size")
    steps: int = field(100_000, "length of the stream")
    seeds: int = field(3, "independent runs (streams and initialisations), vmapped")
    seed: int = field(0, "seed of the first run; run k uses seed + k")
    chunk: int = field(10_000, "steps per jitted call (the progress bar moves per chunk)")
    curve_points: int = field(100, "points of the learning curve (windows of steps / curve_points)")
    final_window: int = field(100_000, "the final MSRE is over the last final_window steps (at most steps)")
    label: str = field("", "a name for plots and tables (default: cell and learner)")

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen: normalise once
        for name in ("task_options", "cell_options"):
            set_(name, _options(name, getattr(self, name)))
        for name in ("steps", "seeds", "chunk", "curve_points", "final_window"):
            set_(name, validate.positive_int(name, getattr(self, name)))
        set_("seed", validate.non_negative_int("seed", self.seed))
        if self.curve_points > self.steps:
            raise ValueError(f"curve_points ({self.curve_points}) must be at most steps ({self.steps}).")
        if not isinstance(self.label, str):
            raise ValueError(f"label must be a string, got {self.label!r}.")
        self.td_config(self.make_task().gamma)  # validates the task, cell and learner fields

    def make_task(self) -> tasks.Task:
        """The task, with ``task_options``."""
        try:
            return tasks.make(self.task, **self.task_options)
        except ValueError as e:
            raise ValueError(f"task_options: {e}" if "unknown task" not in str(e) else f"task: {e}") from None

    def td_config(self, gamma: float) -> TDConfig:
        return TDConfig(cell=self.cell, hidden_size=self.hidden_size, learner=self.learner,
                        truncation=self.truncation, gamma=gamma, lambda_=self.lambda_, optimizer=self.optimizer,
                        step_size=self.step_size, cell_options=self.cell_options, projection=self.projection,
                        projection_activation=self.projection_activation)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        how = "RTRL" if self.learner == "rtrl" else f"T-BPTT T={self.truncation}"
        return f"{self.cell} n={self.hidden_size} ({how})"

    def flops_per_step(self) -> int:
        """FLOPs of one learning step of the recurrent cell from the cost model (`rtrl.cost`); the
        value head and a projection are not counted (they cost the same for every gradient method)."""
        task = self.make_task()
        method = "rtrl" if self.learner == "rtrl" else "tbptt"
        options = {k: v for k, v in self.cell_options.items() if k != "traces"}
        return cost.step_cost(self.cell, hidden_size=self.hidden_size, input_size=task.observation_size,
                              method=method, truncation=self.truncation, **options).flops


def _options(name: str, value: Any) -> FrozenDict:
    """An option mapping as an immutable, hashable `FrozenDict` (None: no options)."""
    if value is None:
        return FrozenDict()
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping of option names to values, e.g. {{isi: 10}}, got {value!r}.")
    return FrozenDict(value)


def _elementwise_cells() -> list[str]:
    """Registered cells whose RTRL traces are element-wise (O(n·d) per sequence); the others use the dense
    engine, whose traces grow as the state size times the parameter count (O(n³) for GRU, LSTM, RNN)."""
    return [name for name in cells.names() if cells.definition(name).elementwise]


def memory_estimate(config: PredictionConfig) -> tuple[dict[str, int], dict[str, int]]:
    """An upper bound of the bytes a run of ``config`` needs, from the cost model (`rtrl.cost`):
    ``(device parts, host parts)``, each {what: bytes}.

    Per seed, the learner carries its memory M (RTRL: the cell's state and traces; T-BPTT: the
    start state and the window, with the activations a backward pass keeps) and P parameters with
    their eligibility trace and optimiser moments (Adam: 4P floats; SGD: 2P). A jitted chunk holds
    that state twice (its input and its output), works with up to three trace-sized temporaries
    (the dense engine's Jacobian ∂s/∂θ and the product J_s·E beside the old and new traces), six
    parameter-sized ones (∇V, the update, the new θ and moments) and the chunk's streams. After the run the host keeps eight (seeds, steps) float32 arrays: the
    predictions, the oracle's, the cumulants, the returns and the three squared errors (plus one).
    """
    task = config.make_task()
    d, seeds = task.observation_size, config.seeds
    itemsize = 4  # the learners run in float32 here
    options = {k: v for k, v in config.cell_options.items() if k != "traces"}
    rule = config.cell_options.get("traces")
    method = "rtrl" if config.learner == "rtrl" else "tbptt"
    kw = dict(hidden_size=config.hidden_size, input_size=d, **options)
    step = cost.step_cost(config.cell, method=method, truncation=config.truncation,
                          **({"traces": rule} if rule in ("hand", "dense") else {}), **kw)
    memory = step.memory
    if rule == "elementwise":  # the generic element-wise engine keeps pairs the hand rule shares: at most 2×
        state = cost.step_cost(config.cell, method="forward", **kw).memory
        memory = state + 2 * (memory - state)
    cell = config.td_config(task.gamma).make_cell()
    k = config.projection
    head = (cell.output_size * k + 2 * k + 1) if k else cell.output_size + 1
    params = step.parameters + head
    scalars = 8  # V_{t-1}, the step counter, the optimiser's step count, ...
    learner = memory + params * (2 + (2 if config.optimizer == "adam" else 0)) + scalars
    device = {
        "learner state in and out of a chunk": 2 * seeds * learner * itemsize,
        "traces/window temporaries": 3 * seeds * memory * itemsize,
        "parameter-sized temporaries": 6 * seeds * params * itemsize,
        "streams of a chunk": 2 * seeds * config.chunk * (d + 3) * itemsize,
    }
    host = {"stored streams and scores": 8 * seeds * config.steps * itemsize}
    return device, host


def check_memory(config: PredictionConfig, *, available_device: int | None = None,
                 available_host: int | None = None) -> None:
    """Refuse (ValueError) a run whose `memory_estimate` does not fit the memory available (on the
    CPU the device parts and the host parts share the host's memory)."""
    device, host = memory_estimate(config)
    what = f"{config.name} on {config.task}, {config.seeds} seed(s) x {config.steps:,} steps"
    elementwise = _elementwise_cells()
    dense = config.learner == "rtrl" and (config.cell not in elementwise
                                         or config.cell_options.get("traces") == "dense")
    reduce = ("hidden_size (dense RTRL traces grow as the state size times the parameter count), or use "
              f"learner=tbptt with a truncation, or an element-wise cell ({', '.join(elementwise)}), "
              "or seeds" if dense else "hidden_size, truncation or seeds")
    if memory.device_available_bytes() is None and available_device is None:  # one pool: the host's
        memory.check_fits(sum(device.values()) + sum(host.values()), what=what, reduce=reduce + ", or steps",
                          breakdown={**device, **host}, available=available_host)
        return
    memory.check_fits(sum(device.values()), what=what, reduce=reduce, breakdown=device, device=True,
                      available=available_device)
    memory.check_fits(sum(host.values()), what=what, reduce="steps or seeds", breakdown=host,
                      available=available_host)


@dataclasses.dataclass
class PredictionResult:
    config: PredictionConfig
    gamma: float
    predictions: np.ndarray  # (seeds, steps) V_t
    oracle: np.ndarray  # (seeds, steps) E[G_t | history]
    cumulants: np.ndarray  # (seeds, steps) c_t
    returns: np.ndarray  # (seeds, steps) G_t
    seconds: float  # wall time of the learning, compile excluded
    compile_seconds: float

    @property
    def steps_per_second(self) -> float:
        """Environment steps per second over all seeds (learner, task and oracle together)."""
        return self.predictions.size / max(self.seconds, 1e-9)

    def squared_errors(self) -> dict[str, np.ndarray]:
        g = self.returns
        return {"learner": (self.predictions - g) ** 2, "oracle": (self.oracle - g) ** 2, "zero": g**2}

    def curves(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(x: last step of each window, {name: (seeds, points) mean squared error per window})."""
        steps = self.predictions.shape[1]
        width = steps // self.config.curve_points
        points = steps // width
        x = np.arange(1, points + 1) * width
        out = {k: v[:, : points * width].reshape(v.shape[0], points, width).mean(axis=2)
               for k, v in self.squared_errors().items()}
        return x, out

    def summary(self) -> dict[str, Any]:
        errors = self.squared_errors()
        final = min(self.config.final_window, self.predictions.shape[1])
        per_seed = {k: v.mean(axis=1) for k, v in errors.items()}
        per_seed_final = {k: v[:, -final:].mean(axis=1) for k, v in errors.items()}

        def stats(values: np.ndarray) -> dict[str, Any]:
            return statistics.interval(values).to_dict()

        return {
            "name": self.config.name,
            "gamma": self.gamma,
            "steps": int(self.predictions.shape[1]),
            "seeds": int(self.predictions.shape[0]),
            "final_window": final,
            "confidence_interval": statistics.DEFINITION,
            "msre": {k: stats(v) for k, v in per_seed.items()},
            "msre_final": {k: stats(v) for k, v in per_seed_final.items()},
            "flops_per_step": self.config.flops_per_step(),
            "worse_than_zero_predictor": bool(per_seed_final["learner"].mean() > per_seed_final["zero"].mean()),
            "steps_per_second": self.steps_per_second,
            "steps_per_second_definition": run_dir.RATE,
            "seconds": self.seconds,
            "compile_seconds": self.compile_seconds,
            "device": jax.devices()[0].platform,
        }


def run(config: PredictionConfig, *, progress: Callable[[int], None] | None = None) -> PredictionResult:
    """Run ``config`` (all seeds vmapped); ``progress(steps_done)`` is called after each chunk.

    A run that will not fit in memory (`check_memory`) is refused before it starts."""
    check_memory(config)
    task = config.make_task()
    learner = make_learner(config.td_config(task.gamma), task.observation_size)
    oracle = tasks.Oracle(task)
    seeds = jnp.arange(config.seed, config.seed + config.seeds)
    keys = jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s)))(seeds)  # (seeds, 2, key)
    task_state = jax.vmap(task.reset)(keys[:, 0])
    learner_state = jax.vmap(learner.init)(keys[:, 1])
    oracle_state = jax.vmap(oracle.init)(task_state)

    @jax.jit
    def chunk(task_state, learner_state, oracle_state, length_marker):
        n = length_marker.shape[0]
        task_state, obs = jax.vmap(lambda s: task.generate(s, n))(task_state)
        learner_state, v = jax.vmap(learner.run)(learner_state, obs)
        oracle_state, v_oracle = jax.vmap(lambda c, o: tasks.predict(oracle, c, o))(oracle_state, obs)
        return task_state, learner_state, oracle_state, v, v_oracle, obs[..., 0]

    sizes = [config.chunk] * (config.steps // config.chunk)
    if config.steps % config.chunk:
        sizes.append(config.steps % config.chunk)
    # the whole stream's rows, written chunk by chunk: a list of chunks kept each chunk's JAX buffer alive
    # (≈ 2.8 kB of bookkeeping per array: +0.8 B per step in a 100M-step soak) and np.concatenate at the
    # end needed the memory twice
    kept: dict[str, np.ndarray] = {}
    compile_seconds, seconds, done = 0.0, 0.0, 0
    compiled: dict[int, Any] = {}
    state = (task_state, learner_state, oracle_state)
    for n in sizes:
        marker = jnp.zeros((n, 0))  # carries the chunk length as a static shape
        if n not in compiled:
            t0 = time.perf_counter()
            compiled[n] = chunk.lower(*state, marker).compile()
            compile_seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        *state, v, v_oracle, c = compiled[n](*state, marker)
        v.block_until_ready()
        seconds += time.perf_counter() - t0
        for name, rows in (("predictions", v), ("oracles", v_oracle), ("cumulants", c)):
            if name not in kept:  # pages are touched as chunks are written: memory grows with the stream
                kept[name] = np.empty((rows.shape[0], config.steps), rows.dtype)
            kept[name][:, done:done + n] = rows  # copied out of the device buffer, which is then freed
        if not np.all(np.isfinite(kept["predictions"][:, done:done + n])):  # stop a diverged run now
            bad = np.argwhere(~np.isfinite(kept["predictions"][:, done:done + n]))[0]
            raise FloatingPointError(f"{config.name}: the prediction diverged (non-finite at seed "
                                     f"{config.seed + bad[0]}, step {done + bad[1]}); lower step_size (now "
                                     f"{config.step_size}).")
        done += n
        if progress is not None:
            progress(done)
    cumulants = kept["cumulants"]
    g = np.asarray(jax.vmap(lambda c: tasks.returns(c, task.gamma))(jnp.asarray(cumulants)))
    return PredictionResult(config, task.gamma, kept["predictions"], kept["oracles"], cumulants, g, seconds,
                            compile_seconds)


def write(result: PredictionResult, path: str | run_dir.Plan, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the run directory (see `rtrl.experiments.run_dir`); returns the summary.

    ``path`` is a directory or the `run_dir.Plan` that `run_dir.prepare` made for it before the
    run; a run it replaces is deleted only once everything is written."""
    plan = path if isinstance(path, run_dir.Plan) else run_dir.prepare(path, overwrite=overwrite)
    path = plan.path
    with run_dir.replacing(plan, result.config):
        x, curves = result.curves()
        for k in range(result.predictions.shape[0]):
            rows = [{"step": int(x[i]), "msre": float(curves["learner"][k, i]),
                     "oracle": float(curves["oracle"][k, i]), "zero": float(curves["zero"][k, i])}
                    for i in range(len(x))]
            run_dir.write_csv(os.path.join(path, f"seed_{result.config.seed + k}.csv"), rows)
            run_dir.write_tensorboard(path, result.config.seed + k, rows)
        summary = result.summary()
        run_dir.write_summary(path, summary)
        references = {"oracle": summary["msre"]["oracle"]["mean"], "zero predictor": summary["msre"]["zero"]["mean"]}
        plots.learning_curves(os.path.join(path, "learning_curve.png"), {result.config.name: (x, curves["learner"])},
                              xlabel="step", ylabel="squared return error (window mean)", title=_title(result.config),
                              reference_lines=references, logy=True)
    return summary


def _title(config: PredictionConfig) -> str:
    task = config.make_task()
    return f"{config.task} ISI {task.isi} ITI {task.iti} γ={task.gamma:g}, {config.seeds} seed(s)"


def worse_than_zero(summary: dict[str, Any]) -> bool:
    """The learner's mean final MSRE is above the zero predictor's (V_t = 0 always): it learned
    nothing useful, or diverged slowly."""
    final = summary["msre_final"]
    return final["learner"]["mean"] > final["zero"]["mean"]


def suggest_hidden_size(config: PredictionConfig, budget: float, *, largest: int = 4096) -> int:
    """The largest hidden size whose learning step costs at most ``budget`` FLOPs (at least 1)."""
    best = 1
    low, high = 1, largest
    while low <= high:  # FLOPs grow with the hidden size: bisect
        mid = (low + high) // 2
        if dataclasses.replace(config, hidden_size=mid).flops_per_step() <= budget:
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return best


def geometric_budgets(low: float, high: float, count: int) -> list[float]:
    if count == 1:
        return [low]
    ratio = (high / low) ** (1 / (count - 1))
    return [low * ratio**i for i in range(count)]
