"""The ``edgeprune`` command. Each subcommand parses, calls one library function, prints.

User mistakes (``EdgepruneError``) print one line and exit with status 2; Ctrl-C keeps what
finished and exits with 130. Bugs keep their tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeprune import __version__
from edgeprune.config import FIELDS, RunConfig, build_config, read_config_file
from edgeprune.errors import EdgepruneError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        # No abbreviations: --finetune-epoch must not silently mean --finetune-epochs.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, not usage + error
        raise EdgepruneError(f"{message} (see {self.prog} --help)")


def _add_config_flags(parser: argparse.ArgumentParser, keys: tuple[str, ...] | None = None) -> None:
    defaults = RunConfig()
    for key, f in FIELDS.items():
        if keys is not None and key not in keys:
            continue
        default = getattr(defaults, f.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            f"--{key}",
            dest=f"cfg_{f.name}",
            default=argparse.SUPPRESS,
            metavar=key.split("-")[-1].upper(),
            help=f"{f.metadata['help']} (default: {shown!s})"
            if shown not in ("", 0)
            else f.metadata["help"],
        )


def _flag_values(args: argparse.Namespace) -> dict[str, str]:
    return {
        name[4:].replace("_", "-"): value
        for name, value in vars(args).items()
        if name.startswith("cfg_")
    }


def cmd_compress(args: argparse.Namespace) -> int:
    from edgeprune.pipeline import compress
    from edgeprune.progress import Progress
    from edgeprune.report.table import summary_rows, text_table

    file_values = read_config_file(args.config) if args.config else {}
    config = build_config(file_values, _flag_values(args))
    results, selection = compress(config, Progress(quiet=args.quiet))
    print(text_table(summary_rows(results, selection)))
    print()
    print(f"selected: {selection['explanation']}")
    for row in selection["candidates"]:
        if not row["feasible"]:
            print(f"  rejected {row['name']}: {'; '.join(row['reasons'])}")
    print(
        f"run directory: {config.run_dir}  (report.html, report.md, results.json, results.csv, selection.json)"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from edgeprune.assess import ArtifactEvaluation, evaluate_artifact_file
    from edgeprune.progress import Progress
    from edgeprune.targets.run import DeviceJob

    out = Path(args.out or f"runs/evaluate-{Path(args.artifact).stem}")
    request = ArtifactEvaluation(
        artifact=Path(args.artifact), out=out, target=args.target, bundle=args.bundle, data=args.data,
        corruptions=args.corruptions, input_size=args.input_size, seed=args.seed, device=args.device,
        ssh_options=args.ssh_options, runtime=args.runtime, precision=args.precision,
        job=DeviceJob(batch_size=args.batch_size, latency_batches=(1, args.latency_batch),
                      iterations=args.latency_iterations, feature_splits=()),
    )  # fmt: skip
    metrics = evaluate_artifact_file(request, Progress(quiet=args.quiet))
    cal, lat = metrics["calibration"], metrics["latency"]
    print(f"{args.artifact}: accuracy {100 * metrics['accuracy']:.2f} % on {metrics['n']} images, ECE {cal['ece']:.4f}, "
          f"NLL {cal['nll']:.3f}, Brier {cal['brier']:.4f}")  # fmt: skip
    if metrics.get("corruption", {}).get("mPC") is not None:
        c = metrics["corruption"]
        print(f"corruptions: mPC {100 * c['mPC']:.2f} %, rPC {c['rPC']:.3f}")
    for batch in (k for k in lat if k.isdigit()):
        s = lat[batch]
        print(f"latency b{batch} ({lat['where']}, measured): p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms, "
              f"{s['throughput_ips']:.0f} img/s")  # fmt: skip
    if "target_estimate" in metrics:
        est = metrics["target_estimate"]
        print(f"{est['target']} (estimated): {est['latency']['1']['latency_ms']:.3f} ms at batch 1")
    print(f"metrics: {out / 'metrics.json'}")
    return 0


def cmd_corrupt(args: argparse.Namespace) -> int:
    from edgeprune.data.corrupted_sets import write_corrupted_set
    from edgeprune.data.corruptions import ALL, CORRUPTIONS
    from edgeprune.data.datasets import load_dataset
    from edgeprune.progress import Progress

    names = tuple(n for n in args.corruptions.split(",") if n) or ALL
    for name in names:
        CORRUPTIONS.get(name)  # a typo fails before any work
    if args.limit is not None and args.limit < 1:
        raise EdgepruneError("--limit must be at least 1")
    progress = Progress(quiet=args.quiet)
    dataset = load_dataset(args.data, args.input_size or None, args.seed)
    images, labels = dataset.test.images[: args.limit], dataset.test.labels[: args.limit]
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
    from edgeprune.targets.profile import shipped_profiles

    for profile in shipped_profiles().values():
        peak = profile.peak.for_precision(profile.runtime.precision)
        peak_text = f"{peak:g} T {profile.runtime.precision}" if peak else "measured at run time"
        bandwidth = (
            f"{profile.memory.bandwidth_gbps:g} GB/s"
            if profile.memory.bandwidth_gbps
            else "measured"
        )
        aliases = f" (aliases: {', '.join(profile.aliases)})" if profile.aliases else ""
        print(f"{profile.name}{aliases}")
        print(f"    {profile.description}")
        print(
            f"    peak {peak_text}, memory {bandwidth}, DLA {profile.features.dla_cores}, "
            f"2:4 sparsity {'yes' if profile.features.sparsity_2_4 else 'no'}, channel multiple "
            f"{profile.features.channel_multiple}, runtime {profile.runtime.default} {profile.runtime.precision}"
        )
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from edgeprune.prune import METHODS

    for name in METHODS.names():
        method = METHODS.get(name)
        print(f"{name:22s} {method.kind:16s} {method.description}")
    return 0


def _load_run(run_dir: Path) -> dict:
    from edgeprune.files import read_json

    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise EdgepruneError(
            f"{run_dir} has no results.json (is it a finished edgeprune run directory?)"
        )
    return read_json(path)


SELECTION_KEYS = (
    "max-acc-drop", "max-ece-increase", "max-latency-ms", "max-memory-mb", "min-mpc", "min-rpc",
    "min-hcc", "min-pe", "objective", "select-by",
)  # fmt: skip


def cmd_select(args: argparse.Namespace) -> int:
    from edgeprune.files import write_json
    from edgeprune.pipeline import decide
    from edgeprune.report import write_reports
    from edgeprune.report.table import summary_rows, text_table
    from edgeprune.results import merge_results

    runs = [_load_run(d) for d in args.run_dirs]
    results = merge_results(runs, [Path(d).name for d in args.run_dirs])
    stored = {k: v for k, v in results["config"].items() if k in FIELDS}
    config = build_config(
        stored, {k: v for k, v in _flag_values(args).items() if k in SELECTION_KEYS}
    )
    out = Path(args.out or args.run_dirs[0])
    results["run_dir"] = str(out)
    selection = decide(results, config)
    write_json(out / "selection.json", selection)
    if len(runs) > 1:
        write_json(out / "results.merged.json", results)
    write_reports(out, results, selection)
    print(text_table(summary_rows(results, selection)))
    print(f"\nselected: {selection['explanation']}")
    for row in selection["candidates"]:
        if not row["feasible"]:
            print(f"  rejected {row['name']}: {'; '.join(row['reasons'])}")
    if selection.get("overlays"):
        print(f"overlays to confirm: {out / selection['overlays']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from edgeprune.files import read_json
    from edgeprune.report import write_reports

    results = _load_run(args.run_dir)
    selection = read_json(Path(args.run_dir) / "selection.json")
    for path in write_reports(Path(args.run_dir), results, selection).values():
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
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
        "--config", help="TOML file with the same keys as these flags (flags win)"
    )
    compress.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_config_flags(compress)
    compress.set_defaults(handler=cmd_compress)

    evaluate = sub.add_parser("evaluate", help="evaluate one artifact (ONNX or engine) as deployed")
    evaluate.add_argument("artifact", help="model.onnx or a TensorRT engine")
    evaluate.add_argument(
        "--bundle", type=Path, help="a run's eval bundle folder (runs/<name>/bundle)"
    )
    evaluate.add_argument(
        "--data", default="", help="or a dataset: digits | cifar10:<dir> | imagefolder:<dir>"
    )
    evaluate.add_argument(
        "--corruptions",
        default="none",
        help="with --data: auto | generate[:N] | cifar10-c:<dir> | none",
    )
    evaluate.add_argument("--input-size", type=int, default=0)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument(
        "--target",
        default="host-cpu",
        help="device profile for the estimates and [device] defaults",
    )
    evaluate.add_argument(
        "--device", default=None, help="user@host[:port]; local forces this machine"
    )
    evaluate.add_argument("--ssh-options", default="")
    evaluate.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "tensorrt"))
    evaluate.add_argument(
        "--precision", default="", help="precision of the target estimate (default: the target's)"
    )
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.add_argument("--latency-batch", type=int, default=64)
    evaluate.add_argument("--latency-iterations", type=int, default=200)
    evaluate.add_argument(
        "--out", default="", help="output folder (default: runs/evaluate-<artifact>)"
    )
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(handler=cmd_evaluate)

    corrupt = sub.add_parser(
        "corrupt", help="write a CIFAR-10-C-layout corrupted copy of a dataset's test split"
    )
    corrupt.add_argument("--data", required=True, help="digits | cifar10:<dir> | imagefolder:<dir>")
    corrupt.add_argument(
        "--out", required=True, type=Path, help="output folder (resumable per corruption)"
    )
    corrupt.add_argument(
        "--limit", type=int, default=None, help="corrupt only the first N test images"
    )
    corrupt.add_argument(
        "--corruptions", default="", help="comma-separated names (default: all 19)"
    )
    corrupt.add_argument("--seed", type=int, default=0)
    corrupt.add_argument(
        "--input-size", type=int, default=0, help="resize images first (0: dataset default)"
    )
    corrupt.add_argument(
        "--frost-textures", default="", help="folder of frost images (default: procedural)"
    )
    corrupt.add_argument("--quiet", action="store_true")
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
    _add_config_flags(select, SELECTION_KEYS)
    select.add_argument(
        "--by", dest="cfg_select_by", default=argparse.SUPPRESS, help="alias of --select-by"
    )
    select.set_defaults(handler=cmd_select)

    report = sub.add_parser("report", help="write the report of an existing run again")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(handler=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except EdgepruneError as exc:
        print(f"edgeprune: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            "edgeprune: interrupted; finished results are kept, rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
