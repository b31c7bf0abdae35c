"""``rtrl train``: an agent (PPO, streaming or R2AC) from a preset, YAML or flags.

Everything is checked before any work and before anything in ``--out`` is touched: the config
(preset, then YAML, then flags), the run directory, the environment with the agent, and the
memory the run needs. Then the run: a progress bar on a terminal, plain periodic lines otherwise.
A diverging run stops with the last good checkpoint kept (exit 1); Ctrl-C prints the command
that resumes the run (exit 130).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
from collections.abc import Mapping
from typing import Any

from rich.markup import escape

from rtrl.cli.common import console

# Exit status of an interrupted command (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def _train_values(args: argparse.Namespace, *, own_config: bool) -> dict[str, Any]:
    """The TrainConfig fields from --preset, then --config, then flags. The agent flags go to the
    section of the agent's family (`rtrl.agents.families`: ``ppo``, ``stream`` or ``r2ac``; by
    ``--agent``, else the config's); a flag the chosen agent has no field for is refused, and so are
    cell settings given with an agent that has no recurrent layer (mlp-ppo, or gradient none) unless
    they come from the preset or the run's own config."""
    import dataclasses

    from rtrl.agents import families
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets
    from rtrl.experiments.train_config import CELL_FIELDS

    sections = tuple(f.section for f in families.FAMILIES)
    values = training_presets.get(args.preset) if args.preset else {}
    loaded: dict[str, Any] = {}
    if args.config:
        loaded = config_lib.load_yaml(args.config)
        values = config_lib.merge(values, loaded, nested=sections, where=f"{args.config}: config")
    values.update(config_lib.overrides(args, training.TrainConfig))
    flags = {name: getattr(args, name) for name in _agent_flag_names() if getattr(args, name, None) is not None}
    agent = flags.get("agent") or next((values[s]["agent"] for s in sections if (values.get(s) or {}).get("agent")),
                                       None)
    if agent is not None:
        family = families.of_agent(agent)
    else:  # no agent named: the family whose section the settings give, else PPO's
        family = next((f for f in families.FAMILIES if values.get(f.section)), families.FAMILIES[0])
        agent = family.config().agent
    section, cls = family.section, family.config
    fields = {f.name for f in dataclasses.fields(cls)}
    foreign = [name for name in flags if name not in fields]
    if foreign:
        named = ", ".join(config_lib.flag_name(n) for n in foreign)
        raise ValueError(f"{named} do(es) not apply to agent {agent} (flags of {family.kind}: "
                         f"{', '.join(config_lib.flag_name(n) for n in sorted(fields))}).")
    preset = training_presets.get(args.preset) if args.preset else {}
    for other in (s for s in sections if s != section and values.get(s)):
        where = " and ".join(w for w, source in ((f"--preset {args.preset}", preset), (f"--config {args.config}", loaded))
                             if source.get(other)) or "the settings"
        if flags.get("agent"):  # --agent switches family: the other family's section is not used, and we say so
            console.print(f"note: --agent {agent} is one of the {family.kind}; the {other} settings of {where} "
                          f"({', '.join(sorted(values[other]))}) are not used.", soft_wrap=True)
            values[other] = None
        else:
            raise ValueError(f"{where} give{'s' if ' and ' not in where else ''} a {other} section but the agent is "
                             f"{agent} ({section}); keep one agent's settings, or choose the agent with --agent.")
    explicit: dict[str, str] = {}  # cell field -> where the user set it
    from_file = loaded.get(section) or {}
    if args.config and not own_config:
        defaults = cls()
        explicit.update({name: f"{name}: {from_file[name]!r} in {args.config}" for name in CELL_FIELDS
                         if name in from_file and from_file[name] != getattr(defaults, name)})
    if flags:
        values = config_lib.merge(values, {section: flags}, nested=sections)
        explicit.update({name: config_lib.flag_name(name) for name in CELL_FIELDS if name in flags})
    values.setdefault(section, {})
    if explicit and not _recurrent(cls, values.get(section) or {}):
        what = "agent mlp-ppo has" if agent == "mlp-ppo" else f"agent {agent} with gradient none has"
        valid = "--agent real-time-ppo or tbptt-ppo" if agent == "mlp-ppo" else "--gradient rtrl or tbptt"
        raise ValueError(f"{what} no recurrent cell, so {', '.join(explicit.values())} would be ignored; leave it "
                         f"out, or choose {valid}.")
    return values


def _recurrent(cls: type, settings: Mapping[str, Any]) -> bool:
    """Whether the agent these settings choose has a recurrent layer (its config's ``recurrent``, from
    the fields that decide it); True where they are invalid (the config's own check says why later)."""
    try:
        return cls(**{k: settings[k] for k in ("agent", "gradient") if k in settings}).recurrent
    except (TypeError, ValueError):
        return True


_CHOICES = {"agent": "real-time-ppo, tbptt-ppo, mlp-ppo | stream-ac, stream-q | r2ac",
            "gradient": "stale or fresh (real-time-ppo) | rtrl, tbptt (T-BPTT(1)) or none (feed-forward) "
                        "(streaming) | rtrl, tbptt (T-BPTT(M)) or none (r2ac)"}


def _agent_flag_names() -> list[str]:
    """Every agent field with a flag: PPOConfig's, then each other family's that the earlier ones lack."""
    import dataclasses

    from rtrl.agents import families

    names: list[str] = []
    for family in families.FAMILIES:
        names += [f.name for f in dataclasses.fields(family.config) if f.name not in names]
    return names


def _train_config(args: argparse.Namespace, *, own_config: bool = False):
    from rtrl.agents import families
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training

    values = _train_values(args, own_config=own_config)
    if any((values.get(f.section) or {}).get("dtype") == "float64" for f in families.FAMILIES):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 parameters need JAX's 64-bit mode
    return config_lib.from_dict(training.TrainConfig, values)


def resume_command(out: str) -> str:
    """The command that continues the run in ``out`` (its config.yaml holds everything else)."""
    return f"rtrl train --out {shlex.quote(out)} --resume"


def cmd_train(args: argparse.Namespace) -> int:
    from rtrl.experiments import cpu_threads, run_dir, training

    own_config = False
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
        training.check_training_run(args.out)
        if not (args.config or args.preset):
            args.config, own_config = os.path.join(args.out, run_dir.CONFIG), True  # the run's own config
    config = _train_config(args, own_config=own_config)
    threads = cpu_threads.resolve(args.threads, config.stream is not None, config.seeds)
    if threads is not None:  # before any JAX computation: the pool is sized when the backend starts
        cpu_threads.limit_xla_cpu_threads(threads)
    out = args.out or os.path.join("runs", run_dir.default_name("train"))
    prepared = training.prepare(config, out, resume=args.resume, overwrite=args.overwrite, processes=args.processes,
                                threads=args.threads if isinstance(args.threads, int) else None)
    agent = prepared.agent
    total, recurrent = agent.parameter_count()
    console.print(f"{escape(config.name)}: {config.iterations:,} iterations x {config.agent_config.rollout_size:,} steps, "
                  f"{config.seeds} seed(s); {total:,} parameters ({recurrent:,} recurrent); memory estimate "
                  f"{prepared.memory_bytes / 2**20:,.1f} MB"
                  + (f" (a rollout takes {agent.rollout_bytes() / 2**20:,.1f} MB)" if agent.rollout_bytes() else ""),
                  soft_wrap=True)
    if args.resume:
        if prepared.finished:
            console.print(f"{escape(out)} already finished its {config.iterations:,} iterations "
                          f"({config.iterations * config.agent_config.rollout_size:,} steps per seed); nothing to do "
                          "(raise --total-steps to train longer).", soft_wrap=True)
        else:
            console.print(f"resuming at iteration {prepared.start} ({prepared.start * config.agent_config.rollout_size:,} "
                          "steps per seed)", soft_wrap=True)
    bar, report = _progress(prepared)
    if prepared.finished:
        bar = contextlib.nullcontext()
    else:
        console.print(f"progress: {training.RATE}; return: {training.FINAL_RETURN} so far, mean over seeds",
                      soft_wrap=True)
    try:
        with bar:
            result = training.run(prepared, progress=report)
    except KeyboardInterrupt as interrupt:
        _interrupted(out, interrupt)
        return INTERRUPTED
    summary = result.summary
    final = _final_interval(summary)
    console.print(f"final return {final} ({training.FINAL_RETURN}; per seed "
                  f"{', '.join(f'{v:.3f}' for v in final.per_seed)})", soft_wrap=True)
    if prepared.finished:
        return 0
    rate = summary.get("steps_per_second")
    console.print(f"{training.RATE}: " + (f"{rate:,.0f}" if rate is not None else "not measured (one iteration, "
                                          "which compiled)"), soft_wrap=True)
    console.print(f"wrote {escape(out)}/ (config.yaml, seed_*.csv, tb/, checkpoint.npz, summary.json, returns.png)",
                  soft_wrap=True)
    return 0


def _final_interval(summary: Mapping[str, Any]):
    from rtrl.experiments import statistics

    return statistics.from_dict(summary["final_return"])


def _interrupted(out: str, interrupt: KeyboardInterrupt) -> None:
    """Where the run stopped and how to continue it."""
    from rtrl.experiments import checkpoint, training

    path = os.path.join(out, training.CHECKPOINT)
    if os.path.exists(path):
        step = checkpoint.read_meta(path)["step"]
        console.print(f"interrupted; the last checkpoint is {escape(path)} (iteration {step}); continue with:\n"
                      f"  {escape(resume_command(out))}", soft_wrap=True)
    elif os.path.isdir(out):
        console.print(f"interrupted before the first checkpoint of {escape(out)}; start the run again "
                      "(with --overwrite to replace it).", soft_wrap=True)
    else:
        console.print("interrupted before the run started; nothing was written.")
    for note in getattr(interrupt, "__notes__", ()):
        console.print(escape(note), soft_wrap=True)


def _progress(prepared):
    """`StepProgress` of the run (a bar on a terminal, plain periodic lines otherwise) and the
    callback that feeds it: env steps per seed, and the final return so far."""
    from rtrl.cli.common import StepProgress

    config = prepared.config
    rollout = config.agent_config.rollout_size
    bar = StepProgress(config.iterations * rollout, label="train", seeds=config.seeds, start=prepared.start * rollout)

    def report(p) -> None:
        bar.update(p.env_steps, info="" if p.final_return is None else f"return {p.final_return:.3f}")

    return bar, report


def _auto_or_count(text: str) -> int | str:
    """--threads, --processes: "auto" or a whole number >= 1 (argparse reports the error with the flag's name)."""
    from rtrl import validate

    try:
        return validate.auto_or_positive_int("value", text if text == "auto" else int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number >= 1, got {text!r}") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    import dataclasses

    from rtrl.agents import families
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets

    p = sub.add_parser("train", help="train an agent (Real-Time PPO, T-BPTT PPO, MLP PPO; streaming stream-ac, "
                       "stream-q; R2AC)",
                       description="Train an agent on an environment. Settings come from --preset, then --config "
                       "YAML, then flags (agent flags set fields of the PPOConfig, of the StreamConfig for "
                       "--agent stream-ac|stream-q, or of the R2ACConfig for --agent r2ac). Everything is checked "
                       "before any work; a diverging run stops with its last good checkpoint kept (exit 1); Ctrl-C "
                       "prints the command that resumes the run (exit 130).")
    p.add_argument("--preset", choices=training_presets.names(), metavar="PRESET",
                   help="a named experiment: " + ", ".join(training_presets.names()))
    sections = tuple(f.section for f in families.FAMILIES)
    p.add_argument("--config", help="YAML file of TrainConfig fields (with a " + ", ".join(f"{s}:" for s in sections)
                   + " mapping), e.g. a run's config.yaml")
    config_lib.add_arguments(p, training.TrainConfig, skip=sections)
    first, *others = families.FAMILIES
    agent_flags = p.add_argument_group(f"agent ({first.config.__name__}; names shared with another family set "
                                       "that family's config for its agents)")
    config_lib.add_arguments(agent_flags, first.config)
    seen = {f.name for f in dataclasses.fields(first.config)}
    groups = [(first, agent_flags)]
    for family in others:
        group = p.add_argument_group(f"{family.kind} only ({family.config.__name__})")
        config_lib.add_arguments(group, family.config, skip=tuple(seen))
        seen |= {f.name for f in dataclasses.fields(family.config)}
        groups.append((family, group))
    defaults = {f.section: f.config() for f in families.FAMILIES}
    for _, group in groups:  # a name several families share: say what it means for each
        for action in group._group_actions:
            having = [f for f in families.FAMILIES if action.dest in {x.name for x in dataclasses.fields(f.config)}]
            if len(having) > 1:
                action.help = "; ".join(f"{f.kind}: default {config_lib.show_default(getattr(defaults[f.section], action.dest))}"
                                        for f in having)
                if action.dest in _CHOICES:
                    action.help += "; " + _CHOICES[action.dest]
    p.add_argument("--out", help="run directory (default runs/train-<time>)")
    p.add_argument("--threads", type=_auto_or_count, default="auto", help="XLA CPU threads: a number, or auto (default): "
                   "1 for a streaming agent with one seed on a CPU-only JAX, whose steps are chains of tiny kernels "
                   "that a second thread slows down; every CPU otherwise (and with a GPU). Speed only: results are the same")
    p.add_argument("--processes", type=_auto_or_count, default="auto", help="worker processes the seeds of a JAX-native "
                   "environment are split over, each running its share as one vmapped program on its own CPUs: a number, "
                   "or auto (default): one per CPU (at most one per seed) on a CPU-only JAX, 1 otherwise (with a GPU, "
                   "for a host environment and for R2AC). Speed only: every seed's results are the same")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory "
                   "(the old run is kept until the new one finishes)")
    p.set_defaults(func=cmd_train)
