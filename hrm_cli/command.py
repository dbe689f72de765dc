"""The `hrm` command: a face like the dashboard pages, calling the same functions in hrm_core and explain.

Every verb that reports takes --json. Errors print one line and exit non-zero;
a traceback only with --debug.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hrm_core.data.bars import parse_bound, snippet
from hrm_core.errors import HRMError
from hrm_core.runtime import configure_threads
from hrm_core.settings import load_settings
from hrm_cli import diagnose, explain, live, walkforward
from hrm_cli.common import add_data_args as _add_data_args
from hrm_cli.common import emit as _emit
from hrm_cli.common import warn
from hrm_cli.common import n_boot_arg as _n_boot_arg




def _warn_problems(res) -> None:
    """Cache trouble the user should fix (broken, locked, unwritable), on stderr; the bars were still served."""
    for problem in res.problems:
        warn(problem)


# --- data --------------------------------------------------------------------------------------

def cmd_data_list(args) -> int:
    from hrm_core.data.market import list_available

    table = list_available(settings=args.settings)
    if table.attrs.get("note"):  # a broken cache: the sample is still listed
        warn(table.attrs["note"])
    _emit(table.to_dict(orient="records"), args.json, lambda _: table.to_string(index=False))
    return 0


def cmd_data_fetch(args) -> int:
    """Each symbol on its own: one failure does not hide the others; exit 2 if any failed."""
    from hrm_core.data.market import load_bars

    rows, failed = [], 0
    for symbol in args.symbols:
        try:
            res = load_bars(symbol, args.interval, args.start, args.end, settings=args.settings)
        except HRMError as exc:
            failed += 1
            rows.append({"symbol": symbol, "interval": args.interval, "error": str(exc)})
            print(f"hrm: error: {exc}", file=sys.stderr)
            continue
        rows.append({"symbol": symbol, "interval": args.interval, "source": res.source,
                     "badge": res.badge(), "rows": len(res.bars),
                     "first": res.bars.index[0], "last": res.bars.index[-1]})
    _emit(rows, args.json, lambda r: "\n".join(
        f"{x['symbol']} {x['interval']}: {x['rows']} bars {x['first']:%Y-%m-%d} .. {x['last']:%Y-%m-%d} ({x['badge']})"
        for x in r if "error" not in x))
    return 2 if failed else 0


def cmd_data_show(args) -> int:
    from hrm_core.data.market import load_bars

    if not args.symbol and not args.csv:
        raise HRMError("give a SYMBOL or --csv PATH")
    res = load_bars(args.symbol or "", args.interval, args.start, args.end, path=args.csv, settings=args.settings)
    _warn_problems(res)
    bars = res.bars
    payload = {
        "symbol": res.symbol, "interval": res.interval, "source": res.source, "badge": res.badge(),
        "fetched_at": res.fetched_at, "rows": len(bars), "first": bars.index[0], "last": bars.index[-1],
        "quality": res.quality_note,
        "tail": bars.tail(args.rows).reset_index().to_dict(orient="records"),
    }
    _emit(payload, args.json, lambda p: (
        f"{p['symbol']} {p['interval']} - {p['rows']} bars {p['first']} .. {p['last']} ({p['badge']})\n"
        + (f"note: {p['quality']}\n" if p["quality"] else "")
        + bars.tail(args.rows).to_string()))
    return 0


# --- signals, backtest, evaluate ----------------------------------------------------------------

def cmd_signals(args) -> int:
    from hrm_core.trading.signals import load_signals

    if not args.symbol and not args.csv:
        raise HRMError("give --symbol SYMBOL or --csv PATH")
    parse_bound(args.start, name="start", end=False)  # a bad date fails before the model runs
    parse_bound(args.end, name="end", end=True)
    res, _, sig = load_signals(args.model, args.symbol or "", args.interval, settings=args.settings, path=args.csv)
    _warn_problems(res)
    for note in sig.notes:  # the model never saw this interval/instrument, or the signal cache failed
        warn(note)
    rows = sig.records(args.start, args.end)
    if args.rows is not None:
        rows = rows[-args.rows:] if args.rows > 0 else []
    elif not args.json:
        rows = rows[-20:]
    payload = {**sig.summary(), "data": res.badge(), "rows_shown": len(rows), "signals_table": rows}
    _emit(payload, args.json, lambda p: (
        f"{p['symbol']} {p['interval']} - {p['model']} ({p['data']}{', cached' if p['cached'] else ''}): "
        f"{p['signals']} signals, {p['warmup']} warm-up bars, {p['nonfinite']} non-finite -> flat; "
        f"long {p['long']} / flat {p['flat']} / short {p['short']}\n"
        + sig.between(args.start, args.end).tail(len(rows))[
            ["action", "position", "p_short", "p_flat", "p_long", "value", "steps"]].to_string()))
    return 0


def _costs(args):
    """The settings' costs with --costs-bps (total, as commission) and --execution applied; None if neither given."""
    from dataclasses import replace

    from hrm_core.settings import CostSettings

    costs = args.settings.costs
    if getattr(args, "costs_bps", None) is not None:
        costs = CostSettings(commission_bps=args.costs_bps, slippage_bps=0.0, execution=costs.execution)
    if args.execution is not None:
        costs = replace(costs, execution=args.execution)
    return None if costs == args.settings.costs else costs


def cmd_backtest(args) -> int:
    from hrm_core.evaluation.evaluate import backtest_instrument
    from hrm_core.evaluation.report import instrument_json

    if not args.symbol and not args.csv:
        raise HRMError("give --symbol SYMBOL or --csv PATH")
    costs = _costs(args)
    inst = backtest_instrument(settings=args.settings, symbol=args.symbol or "", interval=args.interval,
                               model=args.model, path=args.csv, start=args.start, end=args.end, costs=costs,
                               n_boot=args.n_boot)
    payload = instrument_json(inst)
    table = inst.metrics_table(["Sharpe", "Sharpe CI 95% low", "Sharpe CI 95% high", "Annual return [%]",
                                "Max drawdown [%]", "Win rate per trade [%]", "Trades", "Turnover (two-way, annual)"])
    _emit(payload, args.json, lambda p: (
        f"{p['symbol']} {p['interval']}: {p['first'][:10]} .. {p['last'][:10]} ({p['bars']} bars, "
        f"{p['period']['label']}; data {p['source']}; costs {p['strategies'][0]['costs_bps']} bps, "
        f"fills at {p['strategies'][0]['execution'].replace('_', ' ')}; DSR N = {p['dsr_trials']['N']})\n"
        + "".join(f"warning: {n}\n" for n in p["notes"]) + table.round(2).to_string()))
    return 0


def cmd_evaluate(args) -> int:
    import time as _time

    from hrm_core.evaluation.evaluate import load_models, run_evaluation
    from hrm_core.evaluation.report import headline, write_report

    if args.walk_forward:  # retrain every year instead of the checkpoints' test period (hrm_cli/walkforward.py)
        return walkforward.cmd_walk_forward(args)
    walkforward.refuse_stray_flags(args)
    t0 = _time.perf_counter()
    models = load_models(args.settings, args.models)
    ev = run_evaluation(settings=args.settings, models=models, symbols=args.symbols, csv_paths=args.csv or (),
                        interval=args.eval_interval, start=args.start, end=args.end, extra_trials=args.extra_trials,
                        costs=_costs(args), n_boot=args.n_boot,
                        progress=lambda msg: print(f"... {msg}", file=sys.stderr))
    command = " ".join(["hrm evaluate", *(["--symbols", *args.symbols] if args.symbols else []),
                        *(["--csv", *args.csv] if args.csv else []), *(["--models", *args.models] if args.models else []),
                        *(["--extra-trials", str(args.extra_trials)] if args.extra_trials else []),
                        *(["--execution", args.execution] if args.execution else [])])
    md, js = write_report(ev, args.out, args.json_out, command=command)
    payload = {"markdown": str(md), "json": str(js), "seconds": round(_time.perf_counter() - t0, 1),
               "primary_model": ev.primary, "headline": [h.replace("**", "") for h in headline(ev)]}
    _emit(payload, args.json, lambda p: f"wrote {p['markdown']} and {p['json']} in {p['seconds']} s\n"
          + "\n".join(p["headline"]))
    return 0


def _add_execution_arg(p) -> None:
    p.add_argument("--execution", choices=("next_open", "close"), default=None,
                   help="fill a signal decided at close t at the open of t+1 (next_open) or at that close "
                        "(close, market-on-close); default: [costs] execution in the settings")


def _add_evaluation_verbs(sub) -> None:
    """`hrm signals`, `hrm backtest`, `hrm evaluate` (hrm_core.trading.signals / hrm_core.evaluation.evaluate)."""
    p = sub.add_parser("signals", help="the model's signal table for one instrument (SQLite-cached)")
    p.add_argument("--symbol", default=None)
    p.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    p.add_argument("--rows", type=int, default=None, help="last N rows (default: 20 as text, all with --json)")
    _add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_signals)

    p = sub.add_parser("backtest", help="model vs buy & hold, SMA and momentum, with costs and CIs")
    p.add_argument("--symbol", default=None)
    p.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    p.add_argument("--costs-bps", type=float, default=None,
                   help="total cost per unit of turnover (default: settings commission + slippage)")
    _add_execution_arg(p)
    p.add_argument("--n-boot", type=_n_boot_arg(), default=2000, help="bootstrap replications for the CIs")
    _add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("evaluate", help="every model and baseline on the test period -> docs/results.md + .json")
    p.add_argument("--out", default="docs/results.md")
    p.add_argument("--json-out", default=None, help="default: --out with .json")
    p.add_argument("--symbols", nargs="+", default=None, help="default: settings default_symbols")
    p.add_argument("--csv", nargs="+", default=None, metavar="PATH", help="also evaluate your own OHLCV file(s)")
    p.add_argument("--models", nargs="+", default=None, help="model names in models/ (default: all; first is primary)")
    p.add_argument("--interval", dest="eval_interval", default=None, help="default: the primary model's interval")
    p.add_argument("--start", default=None, help="default: the primary model's test period")
    p.add_argument("--end", default=None)
    p.add_argument("--extra-trials", type=int, default=0,
                   help="configurations tried but not yet in the trial registry (docs/trials.json), for the DSR")
    _add_execution_arg(p)
    p.add_argument("--n-boot", type=_n_boot_arg(), default=2000)
    p.add_argument("--json", action="store_true")
    walkforward.add_args(p)
    p.set_defaults(func=cmd_evaluate)


# --- train, model info -------------------------------------------------------------------------

def cmd_train(args) -> int:
    from hrm_core.data.identity import check_model_name
    from hrm_core.training.config import TrainConfig, default_name, parse_overrides
    from hrm_core.training.train import train_and_save

    if args.out is not None:
        check_model_name(args.out)  # before any data is loaded: the name cannot leave models/
    settings = args.settings
    periods = {k: getattr(args, k) for k in ("train_start", "train_end", "val_start", "val_end",
                                              "test_start", "test_end") if getattr(args, k) is not None}
    options = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "horizon", "threshold_k", "purge_bars",
                                              "stride", "seed", "patience", "early_stop", "cost_bps", "device",
                                              "class_weighting", "soft_direction", "select_depth",
                                              "unroll_segments")
               if getattr(args, k) is not None}
    symbols, intervals = _train_symbols(args), tuple(args.intervals or (settings.data.default_interval,))
    bars = None
    if args.csv:  # the user's files (and any --symbols), each its own instrument; dates split their common span
        from hrm_core.training.datasets import split_common_span, training_bars

        bars = training_bars(symbols, intervals, settings=settings, files={Path(f).name: f for f in args.csv})
        if not periods:
            periods = split_common_span(list(bars.values()))
            if not args.json:
                print(f"periods: 70 / 15 / 15 % of the common span: train {periods['train_start']} .. "
                      f"{periods['train_end']}, validation {periods['val_start']} .. {periods['val_end']}, test "
                      f"{periods['test_start']} .. {periods['test_end']} (--train-start ... to choose)",
                      file=sys.stderr)
    cfg = TrainConfig(preset=args.preset, overrides=tuple(parse_overrides(args.override).items()), symbols=symbols,
                      intervals=intervals, **periods, **options)
    name = args.out or default_name(cfg)
    bar = None
    quiet = args.json or args.quiet

    def progress(p) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None and p.kind != "start":
            from tqdm import tqdm

            bar = tqdm(total=p.total_steps, desc=f"train {name}", unit="batch", file=sys.stderr)
        if p.kind == "batch":
            bar.update(p.step - bar.n)
            bar.set_postfix(epoch=f"{p.epoch}/{p.epochs}", loss=f"{p.metrics['loss']:.3f}")
        elif p.kind == "epoch":
            bar.write(p.message, file=sys.stderr)
        elif p.kind == "start":
            print(p.message, file=sys.stderr)
        elif p.kind == "done":
            bar.update(bar.total - bar.n)
            bar.close()

    result, path = train_and_save(cfg, name, settings=settings, progress=progress, overwrite=args.force, bars=bars)
    if path is None:  # a non-zero torchrun rank: rank 0 reports
        return 0
    m = result.metrics
    payload = {"name": name, "checkpoint": str(path), "seconds": round(result.seconds, 1),
               "world_size": result.world_size, "device": result.device, "periods": result.periods,
               "metrics": {k: v for k, v in m.items() if k.startswith("val_") or k in ("epoch", "epochs_run")}}
    _emit(payload, args.json, lambda p: (
        f"wrote {p['checkpoint']} (+ model card) in {p['seconds']} s on {p['world_size']} x {p['device']}; "
        f"kept epoch {m.get('epoch')}: val accuracy {m.get('val_accuracy', float('nan')):.3f}, "
        f"log-loss {m.get('val_logloss', float('nan')):.4f}, net Sharpe {m.get('val_net_sharpe', float('nan')):+.2f}"))
    return 0


def _train_symbols(args) -> tuple[str, ...]:
    """--symbols (default: the settings' symbols, none when --csv files are given) then the files' names."""
    files = [Path(f).name for f in args.csv or ()]
    if len({f.upper() for f in files}) != len(files):
        raise HRMError(f"two --csv files share a name ({', '.join(files)}): the name is the instrument's; rename one")
    return tuple(args.symbols or (() if files else args.settings.data.default_symbols)) + tuple(files)


def _validation_skill(loaded, args) -> dict:
    """hrm_core.training.skill.checkpoint_skill, or why it could not be computed (e.g. its data is not available here)."""
    from hrm_core.training.skill import checkpoint_skill

    if args.no_skill:
        return {"unavailable": "skipped (--no-skill)"}
    try:
        return checkpoint_skill(loaded, settings=args.settings, n_boot=args.n_boot)
    except (HRMError, ValueError, KeyError) as exc:
        return {"unavailable": str(exc)}


def cmd_model_info(args) -> int:
    from hrm_core.model.config import get_preset
    from hrm_core.data.features import FEATURE_NAMES
    from hrm_core.model.networks import describe_model

    if args.model is not None or args.preset is None:
        from hrm_core.model.cards import read_card, resolve_model
        from hrm_core.model.checkpoint import load_checkpoint

        path = resolve_model(args.model, args.settings)
        loaded = load_checkpoint(path)
        payload = {"model": loaded.name, "path": str(path), **describe_model(loaded.model),
                   "card": read_card(path), "skill": _validation_skill(loaded, args)}
    else:
        payload = {"preset": args.preset, **describe_model(get_preset(args.preset, n_features=len(FEATURE_NAMES)))}

    def render(p) -> str:
        lines = [f"{p.get('model') or p.get('preset')}: {p['arch']}, {p['parameters']:,} parameters, "
                 f"{p['tokens']} tokens, {p['flops_per_decision_min']:,} .. {p['flops_per_decision_max']:,} FLOPs/decision"]
        lines += [f"  {k:<24} {v:>10,}" for k, v in p["parameters_by_module"].items()]
        lines += [f"  {k} = {v}" for k, v in p["config"].items()]
        if p.get("card"):
            lines.append(f"  card: {p['card'].get('summary')}; periods {p['card'].get('periods')}")
        k = p.get("skill") or {}
        if "verdict" in k:
            lo, hi = k["logloss_diff_ci"]
            lines.append(f"  validation log-loss {k['logloss']:.4f} vs {k['logloss_constant']:.4f} for the constant "
                         f"predictor: {k['logloss_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]; accuracy {k['accuracy']:.3f} "
                         f"vs majority rate {k['majority_rate']:.3f}: {k['verdict']}")
        elif k:
            lines.append(f"  validation skill not computed: {k.get('unavailable')}")
        return "\n".join(lines)

    _emit(payload, args.json, render)
    return 0


def _add_training_verbs(sub) -> None:
    """`hrm train` and `hrm model info` (hrm_core.training.train / hrm_core.model.checkpoint)."""
    p = sub.add_parser("train", help="train a model on chosen instruments x intervals; writes models/NAME (+ card)")
    p.add_argument("--preset", default="default", help="tiny, default, paper, flat, flat_tiny, flat_paper")
    p.add_argument("--symbols", nargs="+", default=None,
                   help="default: settings default_symbols (none with --csv: add them to mix both)")
    p.add_argument("--csv", nargs="+", default=None, metavar="PATH",
                   help="train on your own OHLCV files (CSV or Parquet), each an instrument named by its file name; "
                        "the periods default to a 70 / 15 / 15 %% split of the chosen data's common span")
    p.add_argument("--interval", dest="intervals", nargs="+", default=None, help="one or more of 1h 1d 1wk")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", default=None, metavar="NAME", help="model name in models/ (default: preset + time)")
    p.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE", help="ModelConfig fields, e.g. act=False")
    for flag in ("train-start", "train-end", "val-start", "val-end", "test-start", "test-end"):
        p.add_argument(f"--{flag}", default=None, metavar="DATE",
                       help="default: 1999-2018 split of the sample (with --csv: of the files' span)")
    p.add_argument("--horizon", type=int, default=None, help="label horizon in bars (default 1, chosen on validation)")
    p.add_argument("--threshold-k", type=float, default=None, help="flat band in vol units (0 = 2-class)")
    p.add_argument("--purge-bars", type=int, default=None, help="gap before each boundary (>= horizon)")
    p.add_argument("--stride", type=int, default=None, help="keep every k-th training window")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--early-stop", choices=("val_logloss", "val_net_sharpe"), default=None)
    p.add_argument("--cost-bps", type=float, default=None, help="default: settings commission + slippage")
    p.add_argument("--class-weighting", choices=("none", "balanced"), default=None,
                   help="balanced: cross-entropy weighted by inverse training class frequency")
    p.add_argument("--soft-direction", action="store_true", default=None,
                   help="sizing utility on (p_long - p_short) x size, also training the policy")
    p.add_argument("--select-depth", action="store_true", default=None,
                   help="ship the inference mode (fixed depth 1..M-1, max depth or adaptive) of lowest validation "
                        "log-loss; the halting objective is --override halt_objective=ponder|loss_improvement|q_learning")
    p.add_argument("--unroll-segments", action="store_true", default=None,
                   help="one optimiser step per batch through all its segments, so later segments' losses train the "
                        "earlier ones (one process only)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    p.add_argument("--force", action="store_true", help="overwrite models/NAME if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    model = sub.add_parser("model", help="model configs and checkpoints").add_subparsers(dest="action", required=True)
    p = model.add_parser("info", help="config, parameters by module, FLOPs; with --model also its card")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", default=None)
    g.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    p.add_argument("--no-skill", action="store_true",
                   help="skip the validation log-loss / accuracy against the constant predictor")
    p.add_argument("--n-boot", type=_n_boot_arg(), default=2000, help="bootstrap replications for the skill intervals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_model_info)


# --- bench -------------------------------------------------------------------------------------

BENCHMARKS = {"backtest": [], "signals": [], "model": ["--quick"], "explain": [], "diagnostics": [], "live": []}


def cmd_bench(args) -> int:
    """Run the benchmarks in benchmarks/ (each a fresh interpreter, as documented there); one JSON."""
    import subprocess

    from hrm_core.settings import PROJECT_ROOT

    if not (PROJECT_ROOT / "benchmarks").is_dir():
        raise HRMError(f"benchmarks/ not found under {PROJECT_ROOT}; run `hrm bench` from a source checkout")
    results = {}
    for name in args.only or list(BENCHMARKS):
        flags = [] if args.full and name == "model" else BENCHMARKS[name]
        print(f"... benchmarks.{name} {' '.join(flags)}", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *flags], cwd=PROJECT_ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise HRMError(f"benchmarks.{name} failed: {done.stderr.strip().splitlines()[-1:]}")
        results[name] = json.loads(done.stdout)
    print(json.dumps(results, indent=2))
    return 0


# --- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrm", description="HRM Trader command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--settings", default=None, help="settings file (default ./hrm.toml)")
    sub = parser.add_subparsers(dest="verb", required=True)

    data = sub.add_parser("data", help="market data: sample, cache, yfinance").add_subparsers(dest="action", required=True)
    p = data.add_parser("list", help="instruments available offline and in the cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("fetch", help="download into the cache (falls back to cache/sample offline)")
    p.add_argument("symbols", nargs="+")
    _add_data_args(p, csv=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_fetch)
    p = data.add_parser("show", help="summary and last rows of one instrument")
    p.add_argument("symbol", nargs="?")
    _add_data_args(p)
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_show)

    _add_evaluation_verbs(sub)
    _add_training_verbs(sub)
    for verbs in (explain, diagnose, live):
        verbs.add_verbs(sub)
    p = sub.add_parser("bench", help="speed and memory benchmarks (JSON)")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    p.add_argument("--full", action="store_true", help="model benchmark with full iteration counts")
    p.set_defaults(func=cmd_bench)

    return parser


def _error_line(exc: BaseException) -> str:
    """One line for any failure: the message for errors we raise on purpose, a bug report hint otherwise."""
    if isinstance(exc, (HRMError, ValueError, OSError)):
        return snippet(exc, 1000)
    return (f"internal error {type(exc).__name__}: {snippet(exc, 300)}; this is a bug: rerun with --debug "
            "for the traceback and report it")


# verbs that pick threads themselves (training's large batches; benchmarks) or never touch torch
THREADS_OWN_VERBS = ("train", "bench", "data")


def main(argv: list[str] | None = None) -> int:
    """Run one verb; every failure is one `hrm: error:` line and exit 2 (a traceback only with --debug)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.settings = load_settings(args.settings)
        if getattr(args, "interval", "unset") is None:
            args.interval = args.settings.data.default_interval
        if args.verb not in THREADS_OWN_VERBS:
            configure_threads()  # one intra-op thread for inference (why: hrm_core/runtime.py)
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the top of the program: nothing may escape as a traceback
        if args.debug:
            raise
        print(f"hrm: error: {_error_line(exc)}", file=sys.stderr)
        return 2

