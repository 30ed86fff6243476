"""The ``edgeprune`` command. Each subcommand parses, calls one library function, prints.

Flags are the configuration's options (``edgeprune.config``): their names, defaults, help
and choices come from there, so ``compress``, ``evaluate`` and ``select`` never restate
them. User mistakes (``EdgepruneError``) print one line and exit with status 2; Ctrl-C keeps
what finished and exits with 130. Bugs keep their tracebacks.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from edgeprune import __version__
from edgeprune.allocator import keep_freed_memory
from edgeprune.config import (
    FIELDS,
    QUICK_PRESET,
    RunConfig,
    build_config,
    full_help,
    read_config_file,
)
from edgeprune.config.run_config import MAX_SEED
from edgeprune.errors import EdgepruneError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        # No abbreviations: --finetune-epoch must not silently mean --finetune-epochs.
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, not usage + error
        raise EdgepruneError(f"{message} (see {self.prog} --help)")


class _HelpFormatter(argparse.HelpFormatter):
    """Completes a config flag's help when help is shown: its choices come from registries
    (pruning methods need torch), which a plain ``edgeprune targets`` never loads."""

    def _get_help_string(self, action: argparse.Action) -> str:
        f = getattr(action, "config_field", None)
        if f is None:
            return action.help or ""
        text = full_help(f).replace("%", "%%")
        if "default" in text:  # the help already says what an unset option means
            return text
        default = action.shown_default
        return f"{text} (default: {default if default not in ('', ()) else 'none'})"


def _add_config_flags(
    parser: argparse.ArgumentParser,
    keys: Iterable[str] | None = None,
    defaults: dict[str, object] | None = None,
) -> None:
    """One flag per config option (``keys``: a subset); ``defaults`` shown for this command."""
    config = RunConfig()
    for key, f in FIELDS.items():
        if keys is not None and key not in keys:
            continue
        default = (defaults or {}).get(key, config.value(key))
        action = parser.add_argument(
            f"--{key}",
            dest=f"cfg_{f.name}",
            default=argparse.SUPPRESS,
            metavar=key.split("-")[-1].upper(),
            help=f.metadata["help"],
            action="append" if f.metadata.get("repeatable") else "store",
        )
        action.config_field = f
        action.shown_default = (
            ",".join(map(str, default)) if isinstance(default, tuple) else default
        )


def _flag_values(args: argparse.Namespace) -> dict[str, str]:
    return {
        name[4:].replace("_", "-"): ",".join(value) if isinstance(value, list) else value
        for name, value in vars(args).items()
        if name.startswith("cfg_")
    }


def _print_decision(results, decision) -> None:
    from edgeprune.report.table import busy_note, summary_rows, text_table
    from edgeprune.tasks import TASKS

    print(text_table(summary_rows(results, decision, TASKS.get(results.task))))
    if busy_note(results):
        print(busy_note(results))
    print()
    for warning in decision.notes.get("warnings", []):
        print(f"WARNING: {warning}")
    print(f"selected: {decision.explanation}")
    for verdict in decision.rejected:
        print(f"  rejected {verdict.name}: {'; '.join(verdict.reasons)}")


def cmd_compress(args: argparse.Namespace) -> int:
    from edgeprune.pipeline import compress
    from edgeprune.progress import Progress

    file_values = read_config_file(args.config) if args.config else {}
    flags = _flag_values(args)
    if args.quick:  # the preset under the config file and the flags: what they set wins
        file_values = {**QUICK_PRESET, **file_values}
        if "out" not in file_values and "out" not in flags:
            flags["out"] = str(build_config(file_values, flags).run_dir) + "-quick"
    config = build_config(file_values, flags)
    if args.dry_run:
        from edgeprune.dry_run import describe
        from edgeprune.pipeline import resolve

        progress = Progress(quiet=args.quiet)
        print("\n".join(describe(resolve(config, progress), progress)))
        return 0
    results, decision = compress(config, Progress(quiet=args.quiet))
    _print_decision(results, decision)
    print(
        f"run directory: {config.run_dir}  (report.html, report.md, results.json, results.csv, selection.json)"
    )
    return 0


# What evaluate shares with compress: where the data comes from, where and how to measure.
EVALUATE_SECTIONS = ("data", "device", "measure")
EVALUATE_DEFAULTS = {"corruptions": "none"}  # an artifact alone: no corruptions unless asked


def default_evaluation_folder(artifact: Path) -> Path:
    """``runs/evaluate-<run>-<entry>`` for an artifact inside a run directory, else
    ``runs/evaluate-<its folder>-<its name>``: every artifact of a run is ``model.onnx``, so
    the name alone would send a second candidate's evaluation over the first's."""
    folder = artifact.expanduser().resolve().parent
    stem = artifact.stem
    if (folder.parent / "run.toml").is_file():
        name = f"{folder.parent.name}-{folder.name}" + ("" if stem == "model" else f"-{stem}")
    else:
        name = f"{folder.name}-{stem}" if folder.name else stem
    return Path("runs") / f"evaluate-{name}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from edgeprune.evaluate import ArtifactEvaluation, evaluate_artifact_file
    from edgeprune.progress import Progress

    flags = _flag_values(args)
    config = build_config(EVALUATE_DEFAULTS, flags)
    out = Path(args.out) if args.out else default_evaluation_folder(Path(args.artifact))
    request = ArtifactEvaluation(
        artifact=Path(args.artifact),
        out=out,
        config=config,
        bundle=args.bundle,
        from_data="data" in flags,
        runtime=args.runtime,
    )
    entry = evaluate_artifact_file(request, Progress(quiet=args.quiet))
    q, lat = entry.quality, entry.latency
    cal = q.calibration
    print(f"{args.artifact}: accuracy {100 * q.accuracy:.2f} % on {q.n} images, ECE {cal.ece:.4f}, "
          f"NLL {cal.nll:.3f}, Brier {cal.brier:.4f}")  # fmt: skip
    if q.mpc is not None:
        print(f"corruptions: mPC {100 * q.mpc:.2f} %, rPC {q.corruption.rpc:.3f}")
    for batch in lat.batch_sizes:
        s = lat.at(batch)
        print(f"latency b{batch} ({lat.where}, measured): p50 {s.p50_ms:.3f} ms, p99 {s.p99_ms:.3f} ms, "
              f"{s.throughput_ips:.0f} img/s")  # fmt: skip
    if entry.estimate is not None:
        est = entry.estimate
        print(f"{est.target} {est.precision} (estimated): {est.latency_ms(1):.3f} ms at batch 1")
    print(f"metrics: {out / 'metrics.json'}")
    return 0


def cmd_corrupt(args: argparse.Namespace) -> int:
    from edgeprune.data.corrupted_sets import write_corrupted_set
    from edgeprune.data.corruptions import ALL, CORRUPTIONS
    from edgeprune.data.corruptions.frost_textures import texture_files
    from edgeprune.data.datasets import balanced_subset, load_dataset
    from edgeprune.lock import check_folder
    from edgeprune.progress import Progress

    names = tuple(n for n in args.corruptions.split(",") if n) or ALL
    for name in names:
        CORRUPTIONS.get(name)  # a typo fails before any work
    if args.limit is not None and args.limit < 1:
        raise EdgepruneError("--limit must be at least 1")
    if not 0 <= args.seed <= MAX_SEED:
        raise EdgepruneError(f"--seed must lie in 0 .. {MAX_SEED} (2**32 - 1), got {args.seed}")
    if args.input_size < 0:
        raise EdgepruneError("--input-size must be >= 0 (0: the dataset's default)")
    if args.frost_textures:
        texture_files(Path(args.frost_textures).expanduser())  # a typo fails before any work
    if (args.data is None) == (args.images is None):
        raise EdgepruneError(
            "corrupt takes --data (a labelled dataset's test split) or --images (a plain folder)"
        )
    progress = Progress(quiet=args.quiet)
    if args.images is not None:
        from edgeprune.data.plain_folder import corrupt_folder

        check_folder(args.out, "corrupted-image folder")
        count = corrupt_folder(
            Path(args.images).expanduser(), args.out, names, args.seed, args.input_size,
            args.limit, args.frost_textures or None, progress,
        )  # fmt: skip
        size = f"{args.input_size}x{args.input_size}" if args.input_size else "each at its own size"
        print(
            f"{args.out}: {len(names)} corruptions x 5 severities x {count} images ({size}), "
            "as <corruption>/<severity>/<name>.png"
        )
        return 0
    check_folder(args.out, "corrupted-set folder")
    dataset = load_dataset(args.data, args.input_size or None, args.seed)
    chosen = dataset.test.take(balanced_subset(dataset.test.labels, args.limit))
    images, labels = chosen.images, chosen.labels
    progress(
        f"corrupting {len(images)} test images of {args.data} ({dataset.image_shape}) into {args.out}"
    )
    write_corrupted_set(
        images, labels, args.out, names, args.seed, args.frost_textures or None, progress
    )
    print(
        f"{args.out}: {len(names)} corruptions x 5 severities x {len(images)} images (CIFAR-10-C layout)"
    )
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    from edgeprune.errors import EdgepruneError
    from edgeprune.targets.profile import load_target, shipped_profiles

    for profile in shipped_profiles().values():
        _print_profile(profile)
    try:  # this machine's GPU, read from the device
        local = load_target("local-gpu")
        print(f"local-gpu: this machine's GPU, as {local.name}")
        if local.name == "local-gpu":
            _print_profile(local, heading=False)
    except EdgepruneError as exc:
        print(f"local-gpu: {exc}".replace("--target local-gpu: ", ""))
    print(f"auto (the default): {load_target('auto').name} here")
    return 0


def _print_profile(profile, heading: bool = True) -> None:
    peak = profile.peak.for_precision(profile.runtime.precision)
    peak_text = f"{peak:g} T {profile.runtime.precision}" if peak else "measured at run time"
    bandwidth = (
        f"{profile.memory.bandwidth_gbps:g} GB/s" if profile.memory.bandwidth_gbps else "measured"
    )
    aliases = f" (aliases: {', '.join(profile.aliases)})" if profile.aliases else ""
    if heading:
        print(f"{profile.name}{aliases}")
    print(f"    {profile.description}")
    print(
        f"    peak {peak_text}, memory {bandwidth}, DLA {profile.features.dla_cores}, "
        f"2:4 sparsity {'yes' if profile.features.sparsity_2_4 else 'no'}, channel multiple "
        f"{profile.features.channel_multiple}, runtime {profile.runtime.default} {profile.runtime.precision}"
    )


def cmd_methods(args: argparse.Namespace) -> int:
    from edgeprune.prune import METHODS

    for name in METHODS.names():
        method = METHODS.get(name)
        print(f"{name:22s} {method.kind:16s} {method.description}")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from edgeprune.config import baseline_options, section_keys
    from edgeprune.files import write_json
    from edgeprune.lock import hold
    from edgeprune.report import write_reports
    from edgeprune.results import merge_results
    from edgeprune.rundir import RunLayout
    from edgeprune.runs import read_run, write_decision
    from edgeprune.selection import decide

    runs = [read_run(d).results for d in args.run_dirs]
    results = merge_results(runs, [Path(d).name for d in args.run_dirs], baseline_options())
    stored = {k: v for k, v in results.config.items() if k in FIELDS}
    selection_keys = section_keys("select")
    config = build_config(
        stored, {k: v for k, v in _flag_values(args).items() if k in selection_keys}
    )
    layout = RunLayout(Path(args.out or args.run_dirs[0]))
    results.run_dir = str(layout.root)
    decision = decide(results, config.select)
    with hold(layout.root):
        kept = write_decision(layout, decision)
        if len(runs) > 1:
            write_json(layout.merged_results, results.to_dict())
        written = write_reports(layout, results, decision)
    _print_decision(results, decision)
    print(f"decision kept as {kept} (selection.json holds the one in force)")
    from edgeprune.selection import SELECTORS

    if SELECTORS.get(decision.selector).confirm_on_overlays and "overlays" in written["plots"]:
        print(f"overlays to confirm: {layout.root / written['plots']['overlays']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from edgeprune.lock import hold
    from edgeprune.report import write_reports
    from edgeprune.runs import read_run

    run = read_run(args.run_dir)
    with hold(run.layout.root):
        written = write_reports(run.layout, run.results, run.decision)
    for key in ("markdown", "html", "csv"):
        print(written[key])
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from edgeprune.report.table import text_table
    from edgeprune.runs import find_runs, run_summary

    found = find_runs(Path(args.folder))
    if not found:
        print(f"no run directories under {args.folder}")
        return 0
    print(text_table([run_summary(path) for path in found]))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from edgeprune.report.table import text_table
    from edgeprune.runs import compare_rows, read_run

    print(text_table(compare_rows([read_run(d) for d in args.run_dirs], args.all)))
    print("* the run's choice; target latency measured where the artifact ran there")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from edgeprune.config import section_keys

    parser = _Parser(
        prog="edgeprune",
        description="Prune CNNs, deploy them to Jetson-class devices, and evaluate the deployed artifact.",
    )
    parser.add_argument("--version", action="version", version=f"edgeprune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    compress = sub.add_parser(
        "compress", help="prune at several ratios, export, evaluate the artifacts, select, report"
    )
    compress.add_argument(
        "--config", help="TOML file with the same keys as these flags (flags win) (default: none)"
    )
    compress.add_argument("--quiet", action="store_true", help="no progress lines")
    compress.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve and check everything (data, model, checkpoint, corruptions, run "
        "directory, device), print the plan, write nothing",
    )
    compress.add_argument(
        "--quick",
        action="store_true",
        help="a first look in well under a minute on the demo: "
        + ", ".join(f"--{k} {v}" for k, v in QUICK_PRESET.items())
        + "; into <default run directory>-quick; flags and --config still win",
    )
    _add_config_flags(compress)
    compress.set_defaults(handler=cmd_compress)

    evaluate = sub.add_parser("evaluate", help="evaluate one artifact (ONNX or engine) as deployed")
    evaluate.add_argument("artifact", help="model.onnx or a TensorRT engine")
    evaluate.add_argument(
        "--bundle",
        type=Path,
        help="a run's eval bundle folder (runs/<name>/bundle), or --data (default: none)",
    )
    evaluate.add_argument(
        "--runtime",
        default="auto",
        help="runtime that runs the artifact (default: auto, from its suffix)",
    )
    evaluate.add_argument(
        "--out",
        default="",
        help="output folder (default: runs/evaluate-<run>-<entry> for an artifact of a run, else runs/evaluate-<folder>-<name>)",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress lines")
    keys = [k for s in EVALUATE_SECTIONS for k in section_keys(s)]
    _add_config_flags(evaluate, keys, EVALUATE_DEFAULTS)
    evaluate.add_argument(  # the name this flag had before it was the config's option
        "--batch-size", dest="cfg_eval_batch_size", default=argparse.SUPPRESS,
        metavar="SIZE", help="alias of --eval-batch-size (same default)",
    )  # fmt: skip
    evaluate.set_defaults(handler=cmd_evaluate)

    corrupt = sub.add_parser(
        "corrupt",
        help="write a CIFAR-10-C-layout corrupted copy of a dataset's test split, or corrupt a "
        "plain folder of images",
    )
    corrupt.add_argument(
        "--data",
        help="a labelled dataset whose test split is corrupted, in the CIFAR-10-C layout: "
        "digits | cifar10:<dir> | imagefolder:<dir> | fashion-mnist[:<dir>] (default: none)",
    )
    corrupt.add_argument(
        "--images",
        help="or a plain folder of unlabelled images: every image, at its own size unless "
        "--input-size, written as <corruption>/<severity>/<name>.png (default: none)",
    )
    corrupt.add_argument(
        "--out", required=True, type=Path, help="output folder (resumable per corruption)"
    )
    corrupt.add_argument(
        "--limit",
        type=int,
        default=None,
        help="corrupt N test images, each class its share (--images: the first N by path) "
        "(default: all of them)",
    )
    corrupt.add_argument(
        "--corruptions", default="", help="comma-separated names (default: all 19)"
    )
    corrupt.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random corruptions (noise, glass, spatter...) (default: 0)",
    )
    corrupt.add_argument(
        "--input-size",
        type=int,
        default=0,
        help="resize images first (--images: a centre square of this side) (default: 0, the "
        "dataset's size, or each image's own)",
    )
    corrupt.add_argument(
        "--frost-textures", default="", help="folder of frost images (default: procedural)"
    )
    corrupt.add_argument("--quiet", action="store_true", help="no progress lines")
    corrupt.set_defaults(handler=cmd_corrupt)

    targets = sub.add_parser("targets", help="list the device profiles edgeprune ships")
    targets.set_defaults(handler=cmd_targets)

    methods = sub.add_parser("methods", help="list the pruning methods")
    methods.set_defaults(handler=cmd_methods)

    select = sub.add_parser(
        "select", help="re-decide an existing run under new constraints (nothing is recomputed)"
    )
    select.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="one or more finished runs"
    )
    select.add_argument(
        "--out", help="where selection.json and the report go (default: the first run)"
    )
    _add_config_flags(select, section_keys("select"))
    select.add_argument(
        "--by", dest="cfg_select_by", default=argparse.SUPPRESS, metavar="SELECTOR",
        help="alias of --select-by (same default)",
    )  # fmt: skip
    select.set_defaults(handler=cmd_select)

    runs = sub.add_parser(
        "runs", help="list run directories: model, data, method, target, candidates, choice"
    )
    runs.add_argument(
        "folder", nargs="?", default="runs", help="where to look, two levels deep (default: runs)"
    )
    runs.set_defaults(handler=cmd_runs)

    compare = sub.add_parser(
        "compare", help="runs side by side: each baseline and choice (--all: every entry)"
    )
    compare.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    compare.add_argument(
        "--all", action="store_true", help="every entry of each run, not only baseline and choice"
    )
    compare.set_defaults(handler=cmd_compare)

    report = sub.add_parser("report", help="write the report of an existing run again")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(handler=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # the same blocks of arrays are allocated again and again
    try:
        args = build_parser().parse_args(argv)
        code = args.handler(args)
    except EdgepruneError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print(
            "edgeprune: interrupted; finished results are kept, rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except OSError as exc:
        from edgeprune.files import storage_problem

        problem = storage_problem(exc)
        if problem is None:
            raise  # a bug keeps its traceback
        return _fail(f"{problem}; finished results are kept, rerun to resume")
    return code


def console() -> None:
    """The ``edgeprune`` command: :func:`main`, then exit with its status."""
    sys.exit(finished(main()))


def finished(code: int) -> int:
    """The work is done and written: a Ctrl-C from here to the interpreter's exit must not
    turn a finished run into a silent death by SIGINT. Only the command does this; ``main``
    called from Python leaves the caller's SIGINT handling as it was (a process that
    ignores SIGINT passes that on to every program it starts)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _fail(message: str) -> int:
    print(f"edgeprune: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
    console()
