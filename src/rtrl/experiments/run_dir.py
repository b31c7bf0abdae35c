"""A run directory: the resolved config, per-seed CSV curves, a summary, TensorBoard events, plots.

    runs/NAME/
      config.yaml        the resolved config (re-run with `--config runs/NAME/config.yaml`)
      seed_<k>.csv       one row per logged point, per seed
      summary.json       final numbers
      tb/seed_<k>/       TensorBoard event files (`tensorboard --logdir runs/NAME/tb`)
      *.png              plots

Replacing a run (``--overwrite``) never loses a finished one, and nothing is touched before the
whole job is known to be possible:

    plan = run_dir.prepare(out, overwrite=args.overwrite)   # validation only: refuses bad --out
    ...validate the rest, estimate memory...                # still nothing written or deleted
    with run_dir.replacing(plan, config):                   # start(): the old run moves aside
        ...run, writing into out...                         # a crash: the old run is kept, and
                                                            # the error says where
    # finish(): the old run (the backup) is deleted once the new one completed

`prepare` refuses an existing directory without ``overwrite``, with it one that is neither empty
nor a run directory (a ``config.yaml`` holding a mapping), a path that is a file, and a path whose nearest existing
ancestor is not a writable directory (found by creating and removing a probe directory there).
`start` renames an old run to a hidden backup beside it (``.NAME.replaced-<time>``, same file
system, so the rename is atomic) and creates the new directory; `finish` deletes the backup.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import json
import os
import shutil
import tempfile
from typing import Any, Iterable, Iterator, Mapping

import yaml

from rtrl.experiments.config import save_yaml

CONFIG = "config.yaml"
SUMMARY = "summary.json"
# The one definition of speed in progress lines, final lines and every summary.json (prediction and training):
# env steps of all seeds together per second, timed after the first (compiling) call.
RATE = "env steps/s, all seeds, excluding compilation"


def default_name(prefix: str) -> str:
    return f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `start` will do with a run directory, as decided by `prepare`.

    Attributes:
      path: the run directory.
      exists: the directory exists already (empty, or a run that ``backup`` will keep).
      backup: where `start` moves the old run (None: there is none to move).
    """

    path: str
    exists: bool = False
    backup: str | None = None

    def kept_message(self) -> str:
        """Where the previous run is, for the message of a run that failed after `start`."""
        if self.backup is None or not os.path.isdir(self.backup):
            return ""
        return (f"the previous run in {self.path} was kept at {self.backup}; to restore it: "
                f"rm -r {self.path} && mv {self.backup} {self.path}")


def looks_like_run(path: str) -> bool:
    """A directory holding a ``config.yaml`` that is a YAML mapping (as every run of ours does)."""
    config = os.path.join(path, CONFIG)
    if not os.path.isdir(path) or not os.path.isfile(config):
        return False
    try:
        with open(config) as f:
            return isinstance(yaml.safe_load(f), dict)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False


def prepare(path: str, *, overwrite: bool = False) -> Plan:
    """Check that a run can be written to ``path``; change nothing (see the module docstring).

    Raises ValueError naming the path and what to do when it cannot.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"the run directory (--out) must be a non-empty path, got {path!r}.")
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise ValueError(f"--out {path!r} exists and is a file, not a run directory; choose another --out.")
        if not overwrite:
            raise ValueError(f"run directory {path!r} already exists; choose another --out, or pass --overwrite "
                             "to replace it.")
        if not os.listdir(path):  # an empty directory: nothing to keep
            _check_writable_dir(path, path)
            return Plan(path, exists=True)
        if not looks_like_run(path):
            raise ValueError(f"{path!r} exists and is not a run directory (no {CONFIG} of a run in it); refusing "
                             "to replace it with --overwrite. Choose another --out.")
        parent = os.path.dirname(os.path.abspath(path))
        _check_writable_dir(parent, path)  # the old run is renamed inside its parent
        return Plan(path, exists=True, backup=_backup_name(path))
    check_can_create(os.path.dirname(os.path.abspath(path)), path)
    return Plan(path)


def check_can_create(directory: str, path: str) -> None:
    """Refuse (ValueError about ``path``) a ``directory`` that cannot be created or written in: its
    nearest existing ancestor must be a writable directory. Creates nothing (a probe is removed)."""
    ancestor = os.path.abspath(directory)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"cannot create {path!r}: {ancestor!r} is a file, not a directory.")
    _check_writable_dir(ancestor, path)


def start(plan: Plan, config: Any) -> str:
    """Move an old run aside (to ``plan.backup``), create the directory and write ``config.yaml``."""
    path = plan.path
    if plan.backup is not None and os.path.isdir(path):
        try:
            os.rename(path, plan.backup)
        except OSError as e:
            raise ValueError(f"cannot move the previous run {path!r} aside to {plan.backup!r}: {e.strerror}.") \
                from None
    try:
        os.makedirs(path, exist_ok=plan.exists)
    except FileExistsError:
        raise ValueError(f"{path!r} was created by someone else since it was checked; choose another --out.") \
            from None
    except OSError as e:
        if plan.backup is not None and os.path.isdir(plan.backup) and not os.path.exists(path):
            os.rename(plan.backup, path)  # put the old run back where it was
        raise ValueError(f"cannot create the run directory {path!r}: {e.strerror}.") from None
    save_yaml(config, os.path.join(path, CONFIG))
    return path


def finish(plan: Plan) -> None:
    """The new run completed: delete the old one that `start` moved aside."""
    if plan.backup is not None and os.path.isdir(plan.backup):
        shutil.rmtree(plan.backup)


@contextlib.contextmanager
def replacing(plan: Plan, config: Any) -> Iterator[str]:
    """`start`, then `finish` when the body completes. If the body raises, the old run stays at
    ``plan.backup`` and the error says so: in its message for ValueError and FloatingPointError
    (which the CLI prints as "error: ..."), as a note (shown under a traceback) for the others."""
    start(plan, config)
    try:
        yield plan.path
    except BaseException as e:
        kept = plan.kept_message()
        if kept:
            if type(e) in (ValueError, FloatingPointError):
                raise type(e)(f"{e}\n{kept}") from e
            e.add_note(kept)
        raise
    finish(plan)


def _backup_name(path: str) -> str:
    parent, name = os.path.split(os.path.abspath(path))
    stamp = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    backup = os.path.join(parent, f".{name}.replaced-{stamp}")
    k = 1
    while os.path.lexists(backup):
        backup, k = os.path.join(parent, f".{name}.replaced-{stamp}-{k}"), k + 1
    return backup


def _check_writable_dir(directory: str, path: str) -> None:
    """Create and remove a probe directory in ``directory``: the only test that also holds for root,
    read-only file systems and ACLs."""
    try:
        probe = tempfile.mkdtemp(prefix=".rtrl-probe-", dir=directory)
    except OSError as e:
        raise ValueError(f"cannot write {path!r}: {directory!r} is not writable "
                         f"({e.strerror}).") from None
    os.rmdir(probe)


def write_csv(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: str) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_summary(run: str, summary: Mapping[str, Any]) -> None:
    with open(os.path.join(run, SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)


def read_summary(run: str) -> dict[str, Any]:
    with open(os.path.join(run, SUMMARY)) as f:
        return json.load(f)


def write_tensorboard(run: str, seed: int, rows: Iterable[Mapping[str, Any]], step_key: str = "step") -> None:
    """Every column but ``step_key`` as a scalar series under tb/seed_<seed>."""
    from tensorboardX import SummaryWriter

    with SummaryWriter(os.path.join(run, "tb", f"seed_{seed}")) as writer:
        for row in rows:
            step = int(row[step_key])
            for key, value in row.items():
                if key != step_key:
                    writer.add_scalar(key, float(value), step)
