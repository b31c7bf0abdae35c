"""Running a sweep on Ray (``rtrl sweep SPEC.yaml``): every (configuration, seed) a Ray task.

    spec = sweep_spec.load_spec("sweeps/rtu-paper-popgym.yaml")
    plan = sweep_spec.make_plan(spec)          # every run's config built and checked
    statuses = check_plan(plan)                # extras; finished / resume / restart / new; nothing written
    cluster = connect()                        # ray.init on this machine; connect("host:6379") for a cluster
    check_resources(spec.resources, cluster)   # each run's CPUs and GPU fit on a node
    result = run_sweep(plan, statuses)         # the runs as Ray tasks, then the report
    disconnect(cluster)

A run is a Ray task (`execute_run`) reserving the spec's ``resources`` in a fresh worker process
(``max_calls=1``: its XLA thread pool sized to its CPUs, its memory returned when it ends) that
calls what ``rtrl train`` and ``rtrl predict`` call: `training.train` (with ``resume`` when the run
has a checkpoint) or `prediction.run` then `prediction.write`. So a run directory of a sweep is an
ordinary run directory (``rtrl plot``, ``rtrl eval``, ``rtrl train --resume`` read it).

Resuming: a run whose ``summary.json`` exists is finished and never touched again (the task
checks once more before it writes); a training run with a ``checkpoint.npz`` resumes from it (the
existing resume path: exactly the numbers of an uninterrupted run on a JAX-native environment); a
prediction run, which has no checkpoints, and a training run stopped before its first checkpoint
start again in their directory (the partial one is moved aside and deleted once the new one is
complete, `run_dir.replacing`).

Failures: a run whose task raised, or whose worker died (killed, out of memory), is submitted
again, up to ``retries`` more times (resuming from its checkpoint if it wrote one); then it is
reported in `SweepResult.failed` with its last error — in the report and in the exit status of
``rtrl sweep`` — never dropped. Ray's own task retries are off, so every attempt is counted here.

On a cluster (``connect(address)``) the sweep directory must be on a file system every node
shares: the runs write their directories there and the report reads them back.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from rtrl.experiments import run_dir
from rtrl.experiments.sweep_spec import PREDICT, TRAIN, PlannedRun, Resources, SweepPlan

__all__ = ["CONNECT_TIMEOUT", "FINISHED", "NEW", "PREDICT", "RESTART", "RESUME", "SPEC_COPY", "TRAIN", "Cluster",
           "RunFailure", "SweepProgress", "SweepResult", "check_directory", "check_environments", "check_plan",
           "check_resources", "connect", "describe_failure", "disconnect", "execute_run", "run_status", "run_sweep",
           "write_spec_copy"]

# What a run directory holds when the sweep looks at it.
FINISHED = "finished"  # summary.json: skipped
RESUME = "resume"  # a training run with a checkpoint: resumed from it
RESTART = "restart"  # an unfinished run without a checkpoint: started again in its directory
NEW = "new"  # no directory yet
SPEC_COPY = "sweep.yaml"  # the spec, copied into the sweep directory (it marks the directory as a sweep's)
CONNECT_TIMEOUT = 30.0  # seconds to reach a cluster given by address before giving up
CHECKPOINT = "checkpoint.npz"  # training.CHECKPOINT (not imported: this module stays light for Ray's workers)


# --- before any run: the directory, the cluster, the resources ---------------------------------------------------


def run_status(run: PlannedRun) -> str:
    """`FINISHED`, `RESUME`, `RESTART` or `NEW`: what the sweep will do with ``run``'s directory."""
    if not os.path.lexists(run.out):
        return NEW
    if os.path.exists(os.path.join(run.out, run_dir.SUMMARY)):
        return FINISHED
    if run.command == TRAIN and os.path.exists(os.path.join(run.out, CHECKPOINT)):
        return RESUME
    return RESTART


def check_plan(plan: SweepPlan) -> dict[str, str]:
    """Every check on this machine before any run: `check_environments`, then `check_directory`
    (whose statuses it returns)."""
    check_environments(plan)
    return check_directory(plan)


def check_environments(plan: SweepPlan) -> None:
    """Refuse a training sweep whose environments need an optional extra this machine lacks (the
    message names the ``pip install``), before any run would fail on it. (On a cluster the workers'
    installs are not seen from here.)"""
    if plan.command != TRAIN:
        return
    from rtrl import envs

    for env, options in dict.fromkeys((c.config.env, c.config.env_options) for c in plan.configurations):
        envs.check(env, options)


def check_directory(plan: SweepPlan) -> dict[str, str]:
    """Every check of the sweep directory before anything is written: ``out`` is a directory that
    can be created (or a sweep's own), and every run directory already there holds a run of its
    configuration (finished, resumable, or one to start again). Returns `run_status` of every run
    by `PlannedRun.id`; changes nothing."""
    out = plan.out
    if os.path.lexists(out):
        if not os.path.isdir(out):
            raise ValueError(f"the sweep directory {out!r} exists and is a file; choose another out.")
        if os.listdir(out) and not os.path.exists(os.path.join(out, SPEC_COPY)):
            raise ValueError(f"{out!r} exists and is not a sweep directory (no {SPEC_COPY} in it); choose another out "
                             "(a sweep writes its runs into a directory of its own).")
        if not os.access(out, os.W_OK):
            raise ValueError(f"the sweep directory {out!r} is not writable.")
    else:
        run_dir.check_can_create(os.path.dirname(os.path.abspath(out)), out)
    statuses = {}
    for run in plan.runs:
        status = run_status(run)
        if status != NEW:
            _check_existing(run, status)
        statuses[run.id] = status
    return statuses


def _check_existing(run: PlannedRun, status: str) -> None:
    """A run directory already there must hold this run: refuse another configuration's run (never
    overwritten), and anything that is not a run directory."""
    if not os.path.isdir(run.out):
        raise ValueError(f"{run.out!r} exists and is not a directory; remove it to let the sweep run {run.id}.")
    if not run_dir.looks_like_run(run.out):
        if os.listdir(run.out):
            raise ValueError(f"{run.out!r} is not a run directory (no {run_dir.CONFIG}); remove it to let the sweep "
                             f"run {run.id}.")
        return  # an empty directory: a run killed before it wrote anything
    saved = _load_config(run)
    if saved != run.config:
        from rtrl.experiments.config import to_dict

        a, b = to_dict(saved), to_dict(run.config)
        diff = "; ".join(f"{k}: run {a.get(k)!r}, spec {b.get(k)!r}" for k in sorted(set(a) | set(b))
                         if a.get(k) != b.get(k))
        raise ValueError(f"{run.out!r} holds a run of another configuration ({diff}); the sweep never replaces a "
                         "run. Remove it, or give the sweep another out.")
    if status == RESUME:
        from rtrl.experiments import training

        training.check(run.config, run.out, resume=True)


def _load_config(run: PlannedRun) -> Any:
    from rtrl.experiments.config import from_dict, load_yaml

    values = load_yaml(os.path.join(run.out, run_dir.CONFIG))
    where = os.path.join(run.out, run_dir.CONFIG)
    try:
        if run.command == TRAIN:
            from rtrl.experiments.train_config import TrainConfig

            return from_dict(TrainConfig, values, where=where)
        from rtrl.experiments.prediction import PredictionConfig

        return from_dict(PredictionConfig, values, where=where)
    except ValueError as e:
        raise ValueError(f"{run.out!r} holds a run this sweep cannot read back ({e}); remove it, or give the sweep "
                         "another out.") from None


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The Ray cluster a sweep runs on: whether this process started it (and so stops it), and
    each live node's resources ({"CPU": 2.0, "GPU": 1.0, ...})."""

    address: str | None
    started_here: bool
    nodes: tuple[Mapping[str, float], ...]

    def total(self, resource: str) -> float:
        return sum(node.get(resource, 0.0) for node in self.nodes)


_PROBE = """import sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
print(ray.cluster_resources().get("CPU", 0))
ray.shutdown()
"""


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("rtrl sweep runs its runs on Ray, which is not installed: pip install 'rtrl[ray]' "
                         "(or pip install -e '.[ray]' -c constraints.txt in a checkout).") from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None, timeout: float = CONNECT_TIMEOUT) -> Cluster:
    """Start Ray on this machine (``address`` None; ``num_cpus`` caps the CPUs it offers, default all)
    or connect to the cluster at ``address`` (``host:port`` of the head node, ``ray://host:port``,
    or ``auto``). An address that cannot be reached, or does not answer as a Ray cluster, within
    ``timeout`` seconds is refused with a ValueError saying so — Ray itself would wait for minutes."""
    ray = _ray()
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"the connection timeout must be a positive number of seconds, got {timeout!r}.")
    if ray.is_initialized():
        raise ValueError("Ray is already initialised in this process; run the sweep from a fresh process "
                         "(or call ray.shutdown() first).")
    if address is None:
        if num_cpus is not None:
            from rtrl import validate

            num_cpus = validate.positive_int("num_cpus", num_cpus)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        return Cluster(None, True, _nodes(ray))
    if num_cpus is not None:
        raise ValueError("--num-cpus sizes a Ray cluster started on this machine; a cluster given by --address "
                         "offers its own CPUs. Leave one of them out.")
    _probe(address, timeout)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    return Cluster(address, False, _nodes(ray))


def _probe(address: str, timeout: float) -> None:
    """Refuse, within ``timeout`` seconds, an address nothing answers at (a TCP connection) or that
    does not answer as a Ray cluster (a child process connects and is killed at the deadline)."""
    advice = ("give the head node's address as host:port (the one `ray start --head` prints, e.g. "
              "192.168.1.10:6379), or leave --address out to run on this machine")
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"--address must be host:port of a Ray cluster's head node, got {address!r}; {advice}.")
    started = time.monotonic()
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--address {address!r} is not host:port; {advice}.")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as e:
            why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
            raise ValueError(f"cannot reach a Ray cluster at {address!r} within {timeout:g} s ({why}); {advice}.") \
                from None
    left = max(1.0, timeout - (time.monotonic() - started))
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, address], capture_output=True, text=True, timeout=left,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{address!r} did not answer as a Ray cluster within {timeout:g} s (something listens there, "
                         f"but Ray could not connect); {advice}, or raise --connect-timeout.") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ValueError(f"cannot connect to the Ray cluster at {address!r}: {lines[-1] if lines else 'failed'}; "
                         f"{advice}.")


def _nodes(ray) -> tuple[Mapping[str, float], ...]:
    return tuple(dict(node["Resources"]) for node in ray.nodes() if node.get("Alive"))


def disconnect(cluster: Cluster | None = None) -> None:
    """Leave the cluster (and stop it if this process started it)."""
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()


def check_resources(resources: Resources, cluster: Cluster) -> None:
    """Refuse resources no node of the cluster can give one run (a Ray task runs on one node, so the
    largest node counts, not the total)."""
    for name, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        wanted = getattr(resources, name)
        if wanted <= 0:
            continue
        largest = max((node.get(resource, 0.0) for node in cluster.nodes), default=0.0)
        if wanted > largest:
            where = "this machine's Ray cluster" if cluster.started_here else f"the cluster at {cluster.address}"
            what = "GPU" if resource == "GPU" else "CPUs"
            has = (f"has no {what}" if largest == 0 else
                   f"has at most {largest:g} {what} on one node ({cluster.total(resource):g} in all, "
                   f"{len(cluster.nodes)} node(s))")
            raise ValueError(f"resources.{name}: each run asks for {wanted:g} {what}, but {where} {has}; lower "
                             f"resources.{name}" + (", or start the local cluster with more (--num-cpus)"
                                                    if resource == "CPU" and cluster.started_here else "") + ".")


# --- a run, inside its Ray task ----------------------------------------------------------------------------------


class _Reporter:
    """Sends a run's progress (env steps done) to the sweep's progress board, at most once a second."""

    def __init__(self, board: Any, run_id: str, every: float = 1.0):
        self.board, self.run_id, self.every = board, run_id, every
        self.last = -float("inf")

    def __call__(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.board is not None and (force or now - self.last >= self.every):
            self.board.report.remote(self.run_id, int(done))
            self.last = now


def _set_up_process(run: PlannedRun, resources: Resources) -> None:
    """Before the run's first JAX computation in its fresh worker: the platform (no GPU reserved, no
    GPU used), the GPU memory share, the XLA CPU threads and 64-bit mode for float64 parameters."""
    import jax
    from jax._src import xla_bridge  # JAX exposes no public "has the backend started?"

    from rtrl.experiments import cpu_threads

    if resources.num_gpus == 0 and not xla_bridge.backends_are_initialized():
        jax.config.update("jax_platforms", "cpu")
    elif resources.num_gpus < 1:  # JAX takes 75% of a GPU by default: keep to the share Ray reserved
        os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 * resources.num_gpus:.3f}")
    section = getattr(run.config, "agent_config", run.config)
    if getattr(section, "dtype", "float32") == "float64":
        jax.config.update("jax_enable_x64", True)
    cpu_threads.limit_xla_cpu_threads(resources.threads)


def execute_run(run: PlannedRun, resources: Resources, board: Any = None) -> dict[str, Any]:
    """Run (or resume, or restart) one run of a sweep in its directory and return its summary: the
    Ray task's body. A finished run (summary.json) is returned as it is, never run again."""
    _set_up_process(run, resources)
    if os.path.exists(os.path.join(run.out, run_dir.SUMMARY)):
        return run_dir.read_summary(run.out)
    report = _Reporter(board, run.id)
    status = run_status(run)
    if run.command == TRAIN:
        from rtrl.experiments import checkpoint, training

        start = 0
        if status == RESUME:
            start = int(checkpoint.read_meta(os.path.join(run.out, CHECKPOINT))["step"])
            start *= run.config.agent_config.rollout_size
        report(start, force=True)
        result = training.train(run.config, run.out, resume=status == RESUME, overwrite=status == RESTART,
                                progress=lambda p: report(p.env_steps))
        report(run.steps, force=True)
        return result.summary
    from rtrl.experiments import prediction

    report(0, force=True)
    plan = run_dir.prepare(run.out, overwrite=status == RESTART)
    result = prediction.run(run.config, progress=report)
    summary = prediction.write(result, plan)
    report(run.steps, force=True)
    return summary


# --- the sweep ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands: runs (all of the plan) finished (now or before), running, failed (after
    every retry) and waiting; env steps done and in all (every run's steps added up)."""

    runs: int
    finished: int
    running: int
    failed: int
    waiting: int
    steps: int
    total_steps: int


@dataclasses.dataclass(frozen=True)
class RunFailure:
    """A run that failed every attempt: its `PlannedRun.id`, the attempts made and the last error."""

    run: str
    attempts: int
    error: str


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What `run_sweep` did: the runs it finished, those finished before (skipped), those that failed
    every attempt, and the attempts each run took (by `PlannedRun.id`)."""

    out: str
    finished: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[RunFailure, ...]
    attempts: Mapping[str, int]

    @property
    def ok(self) -> bool:
        return not self.failed


def _board_class(ray):
    @ray.remote(num_cpus=0)
    class ProgressBoard:
        """Env steps done by each run that has started (`PlannedRun.id` -> steps)."""

        def __init__(self):
            self.steps: dict[str, int] = {}

        def report(self, run_id: str, done: int) -> None:
            self.steps[run_id] = done

        def snapshot(self) -> dict[str, int]:
            return dict(self.steps)

    return ProgressBoard


def describe_failure(error: BaseException) -> str:
    """A failed task's error in one line or a few: the run's own exception (type and message), or
    what happened to its worker."""
    ray = _ray()
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = getattr(error, "cause", None)
        if cause is not None and not isinstance(cause, ray.exceptions.RayError):
            text = f"{type(cause).__name__}: {cause}"
        else:
            text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    elif isinstance(error, ray.exceptions.WorkerCrashedError):
        text = "its worker process died (killed by a signal, out of memory, or crashed)"
    else:
        lines = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 600 else text[:597] + "..."


def write_spec_copy(plan: SweepPlan) -> None:
    """Create the sweep directory and copy the spec into it (``sweep.yaml``): the spec the runs came
    from, and the mark that the directory is a sweep's."""
    os.makedirs(plan.out, exist_ok=True)
    target = os.path.join(plan.out, SPEC_COPY)
    source = plan.spec.source
    if os.path.isfile(source):
        if not (os.path.exists(target) and os.path.samefile(source, target)):
            shutil.copyfile(source, target)
    else:
        from rtrl.experiments.config import save_yaml

        save_yaml(dataclasses.asdict(plan.spec), target)


def run_sweep(plan: SweepPlan, statuses: Mapping[str, str] | None = None, *,
              work: Callable[..., dict[str, Any]] = execute_run,
              progress: Callable[[SweepProgress], None] | None = None,
              notify: Callable[[str], None] | None = None, poll_seconds: float = 0.5,
              report: bool = True) -> SweepResult:
    """Run every unfinished run of ``plan`` as a Ray task on the cluster this process is connected
    to (`connect`), retrying failures, then write the report (`sweep_report.write_report`).

    ``statuses`` is `check_plan`'s (computed here if None). ``work(run, resources, board)`` is
    the task's body (`execute_run`; tests wrap it). ``progress`` gets a `SweepProgress` about every
    ``poll_seconds``; ``notify`` one line per event (a run finished, failed, retried). Ctrl-C
    cancels the running tasks (their checkpoints stay: the next sweep resumes them) and re-raises.
    """
    ray = _ray()
    if not ray.is_initialized():
        raise ValueError("run_sweep needs a Ray cluster: call connect() first.")
    statuses = dict(check_plan(plan) if statuses is None else statuses)
    say = notify or (lambda line: None)
    resources = plan.spec.resources
    write_spec_copy(plan)
    board = _board_class(ray).remote()
    task = ray.remote(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_retries=0, max_calls=1)(work)
    by_id = {run.id: run for run in plan.runs}
    skipped = tuple(run.id for run in plan.runs if statuses[run.id] == FINISHED)
    attempts: dict[str, int] = {run_id: 0 for run_id in by_id}
    pending: dict[Any, PlannedRun] = {}
    finished: list[str] = []
    failed: list[RunFailure] = []

    def submit(run: PlannedRun) -> None:
        attempts[run.id] += 1
        pending[task.remote(run, resources, board)] = run

    for run in plan.runs:
        if statuses[run.id] != FINISHED:
            submit(run)
    done_steps = {run_id: by_id[run_id].steps for run_id in skipped}
    total = sum(run.steps for run in plan.runs)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll_seconds)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as error:
                    why = describe_failure(error)
                    if attempts[run.id] <= plan.spec.retries:
                        say(f"{run.id}: attempt {attempts[run.id]} of {plan.spec.retries + 1} failed ({why}); "
                            "trying again" + (" from its last checkpoint" if run.command == TRAIN else ""))
                        submit(run)
                    else:
                        failed.append(RunFailure(run.id, attempts[run.id], why))
                        say(f"{run.id}: failed after {attempts[run.id]} attempt(s): {why}")
                    continue
                finished.append(run.id)
                done_steps[run.id] = run.steps
                say(f"{run.id}: finished" + (f" (attempt {attempts[run.id]})" if attempts[run.id] > 1 else ""))
            if progress is not None:
                progress(_progress(plan, ray.get(board.snapshot.remote()), done_steps, pending, failed, total))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(board)
    if progress is not None:
        progress(_progress(plan, {}, done_steps, {}, failed, total))
    if report:
        from rtrl.experiments import sweep_report

        sweep_report.write_report(plan, failures=failed)
    return SweepResult(plan.out, tuple(finished), skipped, tuple(failed), attempts)


def _progress(plan: SweepPlan, board: Mapping[str, int], done_steps: Mapping[str, int],
              pending: Mapping[Any, PlannedRun], failed: list[RunFailure], total: int) -> SweepProgress:
    running = [run.id for run in pending.values() if run.id in board]
    steps = sum(done_steps.values()) + sum(board[r] for r in running)
    return SweepProgress(runs=len(plan.runs), finished=len(done_steps), running=len(running), failed=len(failed),
                         waiting=len(pending) - len(running), steps=min(steps, total), total_steps=total)

