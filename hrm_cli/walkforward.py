"""`hrm evaluate --walk-forward`: every variant retrained each year, one out-of-sample series per instrument."""
from __future__ import annotations

import sys
from dataclasses import replace

from hrm_core.errors import HRMError
from hrm_cli.common import bounded_int, emit

# Flags that only mean something with --walk-forward (default None, so a stray one is caught).
ONLY_WITH_WALK_FORWARD = ("years", "seeds", "variants", "epochs", "stride", "jobs", "docs", "model_size", "work_dir",
                          "first_train_year", "cluster")


def add_args(p) -> None:
    """Add --walk-forward and its options to the `hrm evaluate` parser.

    No hrm_core.evaluation.walkforward import here: building the parser must not load torch for every verb, so the
    defaults in the help are written out (WalkForwardConfig holds them)."""
    g = p.add_argument_group("walk-forward", "retrain every year on the years before it; evaluate the concatenated "
                                             "out-of-sample years (hrm_core/evaluation/walkforward.py)")
    g.add_argument("--walk-forward", action="store_true", help="run the walk-forward evaluation instead")
    g.add_argument("--years", nargs=2, type=int, default=None, metavar=("FIRST", "LAST"),
                   help="first and last out-of-sample year (default 2008 2018; with --csv: from the files' common "
                        "span, 3 years after its start to its end)")
    g.add_argument("--seeds", type=bounded_int(1, 100, "seeds"), default=None,
                   help="seeds per variant: 0 .. N-1 (default 5)")
    g.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                   help="default: all (hrm-default, flat and the HRM ablations)")
    g.add_argument("--model-size", default=None, metavar="SIZE",
                   help="tiny or paper: swap the default/flat presets for their twins (smoke runs: tiny)")
    g.add_argument("--epochs", type=bounded_int(1, 1000, "epochs"), default=None, help="default 8")
    g.add_argument("--stride", type=bounded_int(1, 1000, "stride"), default=None, help="default 2")
    g.add_argument("--jobs", type=bounded_int(1, 256, "jobs"), default=None,
                   help="local worker processes, one torch thread each (default 2)")
    g.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run the folds on a Dask cluster, e.g. tcp://HOST:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                        "else [compute] cluster in the settings file, else local processes)")
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


def _config(args, file_bars=None):
    from hrm_core.compute.executors import cluster_address
    from hrm_core.evaluation.walkforward import VALIDATION_YEARS, WalkForwardConfig, select_variants, sized

    s, d = args.settings, WalkForwardConfig()
    if args.models or args.start or args.end or args.extra_trials:
        raise HRMError("--walk-forward trains its own models over --years: drop --models, --start, --end and "
                       "--extra-trials")
    options = {k: getattr(args, k) for k in ("epochs", "stride", "jobs", "work_dir", "first_train_year")
               if getattr(args, k) is not None}
    symbols, years = tuple(args.symbols or s.data.default_symbols), tuple(args.years or d.years)
    if file_bars and args.symbols:
        raise HRMError("--walk-forward runs on --symbols or on --csv files, not both: drop one")
    if file_bars:  # the files' common span: training starts where they all have data, tests run to their end
        symbols = tuple(file_bars)
        first = max(df.index[0].year for df in file_bars.values())
        options.setdefault("first_train_year", first)
        years = tuple(args.years or (options["first_train_year"] + VALIDATION_YEARS + 1,
                                     min(df.index[-1].year for df in file_bars.values())))
    return WalkForwardConfig(
        years=years, variants=sized(select_variants(args.variants), args.model_size or "default"),
        seeds=tuple(range(args.seeds or len(d.seeds))), symbols=symbols,
        interval=args.eval_interval or s.data.default_interval, n_boot=args.n_boot,
        cluster=cluster_address(args.cluster, s), **options)


def _file_bars(args) -> tuple[dict, dict]:
    """--csv files: {name: bars} and {name: where they came from}; no file may be named twice."""
    from hrm_core.data.market import load_bars

    bars, sources = {}, {}
    for path in args.csv or ():
        res = load_bars("", args.eval_interval or args.settings.data.default_interval, path=path,
                        settings=args.settings)
        name = res.symbol.strip().upper()
        if name in bars:
            raise HRMError(f"two --csv files are named {res.symbol}: rename one (the name is the instrument's)")
        bars[name], sources[name] = res.bars, res.badge()
    return bars, sources


def _progress_bar():
    """on_fold for run_walk_forward: a tqdm bar over the folds on stderr, made once the total is known."""
    from tqdm import tqdm

    bar = None

    def on_fold(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="folds", unit="fold", file=sys.stderr)
        bar.update(done - bar.n)
        if done == total:
            bar.close()
    return on_fold


def cmd_walk_forward(args) -> int:
    from hrm_core.evaluation.walkforward import command_for, render_markdown, run_walk_forward, to_json, write_docs

    file_bars, sources = _file_bars(args)
    cfg = _config(args, file_bars)
    settings = args.settings
    command = command_for(replace(cfg, symbols=tuple(settings.data.default_symbols)) if file_bars else cfg, docs=False)
    if file_bars:
        command += " --csv " + " ".join(args.csv)
    if args.execution is not None:
        settings = replace(settings, costs=replace(settings.costs, execution=args.execution))
        command += f" --execution {args.execution}"
    command += " --docs"  # the command that regenerates the docs section
    result = run_walk_forward(cfg, settings, progress=lambda msg: print(f"... {msg}", file=sys.stderr),
                              command=command, bars=file_bars or None, sources=sources or None,
                              on_fold=_progress_bar())
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
