"""`hrm evaluate --walk-forward`: every variant retrained each year, one out-of-sample series per instrument."""
from __future__ import annotations

import sys
from dataclasses import replace

from hrm_core.errors import HRMError
from hrm_cli.common import bounded_int, emit

# Flags that only mean something with --walk-forward (default None, so a stray one is caught).
ONLY_WITH_WALK_FORWARD = ("years", "seeds", "variants", "epochs", "stride", "jobs", "docs", "model_size", "work_dir",
                          "first_train_year")


def add_args(p) -> None:
    """Add --walk-forward and its options to the `hrm evaluate` parser.

    No hrm_core.evaluation.walkforward import here: building the parser must not load torch for every verb, so the
    defaults in the help are written out (WalkForwardConfig holds them)."""
    g = p.add_argument_group("walk-forward", "retrain every year on the years before it; evaluate the concatenated "
                                             "out-of-sample years (hrm_core/evaluation/walkforward.py)")
    g.add_argument("--walk-forward", action="store_true", help="run the walk-forward evaluation instead")
    g.add_argument("--years", nargs=2, type=int, default=None, metavar=("FIRST", "LAST"),
                   help="first and last out-of-sample year (default 2008 2018)")
    g.add_argument("--seeds", type=bounded_int(1, 100, "seeds"), default=None,
                   help="seeds per variant: 0 .. N-1 (default 5)")
    g.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                   help="default: all (hrm-default, flat and the HRM ablations)")
    g.add_argument("--model-size", default=None, metavar="SIZE",
                   help="tiny or paper: swap the default/flat presets for their twins (smoke runs: tiny)")
    g.add_argument("--epochs", type=bounded_int(1, 1000, "epochs"), default=None, help="default 8")
    g.add_argument("--stride", type=bounded_int(1, 1000, "stride"), default=None, help="default 2")
    g.add_argument("--jobs", type=bounded_int(1, 256, "jobs"), default=None,
                   help="worker processes, one torch thread each (default 2)")
    g.add_argument("--first-train-year", type=int, default=None, help="default: the first year of the data")
    g.add_argument("--work-dir", default=None, metavar="DIR",
                   help="fold results and checkpoints, reused by reruns (default data_cache/walkforward)")
    g.add_argument("--docs", nargs="?", const="docs/results.md", default=None, metavar="MD",
                   help="write the walk-forward section of MD (default docs/results.md) and walkforward.json beside it")


def refuse_stray_flags(args) -> None:
    """A walk-forward flag without --walk-forward is a mistake, not something to ignore silently."""
    given = [f"--{k.replace('_', '-')}" for k in ONLY_WITH_WALK_FORWARD if getattr(args, k, None) is not None]
    if given:
        raise HRMError(f"{' '.join(given)} only apply with --walk-forward")


def _config(args):
    from hrm_core.evaluation.walkforward import WalkForwardConfig, select_variants, sized

    s, d = args.settings, WalkForwardConfig()
    if args.csv or args.models or args.start or args.end or args.extra_trials:
        raise HRMError("--walk-forward trains its own models on --symbols over --years: drop --csv, --models, "
                       "--start, --end and --extra-trials")
    options = {k: getattr(args, k) for k in ("epochs", "stride", "jobs", "work_dir", "first_train_year")
               if getattr(args, k) is not None}
    return WalkForwardConfig(
        years=tuple(args.years or d.years),
        variants=sized(select_variants(args.variants), args.model_size or "default"),
        seeds=tuple(range(args.seeds or len(d.seeds))), symbols=tuple(args.symbols or s.data.default_symbols),
        interval=args.eval_interval or s.data.default_interval, n_boot=args.n_boot, **options)


def cmd_walk_forward(args) -> int:
    from hrm_core.evaluation.walkforward import command_for, render_markdown, run_walk_forward, to_json, write_docs

    cfg = _config(args)
    settings = args.settings
    command = command_for(cfg)
    if args.execution is not None:
        settings = replace(settings, costs=replace(settings.costs, execution=args.execution))
        command += f" --execution {args.execution}"
    result = run_walk_forward(cfg, settings, progress=lambda msg: print(f"... {msg}", file=sys.stderr),
                              command=command)
    payload = to_json(result)
    text = render_markdown(result)
    if args.docs:
        md, js = write_docs(result, args.docs)
        payload["docs"] = {"markdown": str(md), "json": str(js)}
        text += f"\nwrote the {md} walk-forward section and {js}"
    c = payload["compute"]
    print(f"... total wall time {c['wall_seconds']} s; training {c['train_seconds_this_run']} s this run, "
          f"{c['train_seconds_total']} s over all {c['folds']} folds", file=sys.stderr)
    emit(payload, args.json, lambda _p: text)
    return 0
