"""What a report says, built once from the typed results and the decision: the decision
first, then the evidence. Every estimated figure says so. The task's sections (calibration,
corruption robustness, explanations for classification) sit between the decision and the
sections every task shares (size, latency, estimates, provenance)."""

from __future__ import annotations

from edgeprune.document import Figure, Report, Section, Table
from edgeprune.report.table import summary_rows


def constraint_text(decision, task) -> str:
    """``accuracy drop <= 1 pp, ECE increase <= 0.01``: the limits the decision applied."""
    from edgeprune.selection import limits_for

    parts = []
    for limit in limits_for(task):
        value = decision.settings.get(limit.option)
        if value is not None:
            parts.append(f"{limit.label} {value:g}{limit.unit}")
    return ", ".join(parts) or "none"


def decision_section(results, decision, plots: dict[str, str], task) -> Section:
    blocks: list = [
        *(f"**Warning: {w}.**" for w in decision.notes.get("warnings", [])),
        f"**{decision.explanation}**",
        f"Constraints: {constraint_text(decision, task)}. Objective: {decision.objective}.",
    ]
    if decision.rejected:
        blocks.append(
            Table(
                ["rejected", "binding constraint", "every violation"],
                [[v.name, v.binding or "-", "; ".join(v.reasons)] for v in decision.rejected],
                align="lll",
            )
        )
    if decision.pareto_front:
        blocks.append(
            f"Pareto front (target latency, {task.pareto_label}): "
            + ", ".join(decision.pareto_front)
            + "."
        )
    if "latency_accuracy" in plots:
        budget = " and the budget dashed" if decision.settings.get("max_latency_ms") else ""
        blocks.append(
            Figure(
                plots["latency_accuracy"],
                f"{task.primary_name.capitalize()} against batch-1 latency on the target; the "
                f"Pareto front is connected{budget}.",
            )
        )
    rows = summary_rows(results, decision, task)
    blocks += [
        Table(
            list(rows[0]), [list(r.values()) for r in rows], align="ll" + "r" * (len(rows[0]) - 2)
        ),
        "`*` marks the chosen candidate.",
    ]
    return Section("Decision", blocks)


def size_section(results, task) -> Section:
    rows = []
    for e in results.entries:
        s = e.size
        filters = (e.pruning or {}).get("filters")
        nonzero = s.nonzero_params if s.nonzero_params is not None else s.params
        rows.append([e.name, f"{e.ratio:.2f}", f"{s.params:,}", f"{100 * e.delta('params_reduction'):.1f} %",
                     f"{nonzero:,}", f"{s.macs:,}", f"{100 * e.delta('macs_reduction'):.1f} %",
                     f"{filters['after']}/{filters['before']}" if filters else "-",
                     f"{s.artifact_bytes / 1024:.1f}", *task.fidelity_cells(e).values()])  # fmt: skip
    notes = sorted({e.pruning["note"] for e in results.candidates if (e.pruning or {}).get("note")})
    headers = ["entry", "nominal ratio", "params", "params reduction", "nonzero params", "MACs",
               "MACs reduction", "conv filters kept", "artifact KB",
               *task.fidelity_cells(results.baseline)]  # fmt: skip
    return Section(
        "Size, real reduction and fidelity",
        [
            "Nominal ratios count channels; structured pruning removes more parameters and MACs than that. Fidelity compares "
            "the artifact's outputs with PyTorch's on the same inputs.",
            Table(headers, rows),
            *notes,
        ],
    )


def latency_section(results) -> Section:
    base = results.baseline
    env = base.environment
    rows = []
    for e in results.entries:
        for b in e.latency.batch_sizes:
            serial = e.latency.at(b)
            for mode, s in [("serial", serial), *serial.modes.items()]:
                load = (serial.load_average or {}).get("before")
                rows.append([e.name, str(b), mode, str(s.warmup), str(s.iterations), f"{s.p50_ms:.3f}", f"{s.p90_ms:.3f}",
                             f"{s.p95_ms:.3f}", f"{s.p99_ms:.3f}", f"{s.p99_ms / s.p50_ms:.1f}" + (" busy" if s.busy else ""),
                             f"{s.mean_ms:.3f}", f"{s.throughput_ips:.0f}", "-" if not load else f"{load[0]:.2f}",
                             f"{e.memory.peak_rss_bytes / 2**20:.0f}"])  # fmt: skip
    headers = ["entry", "batch", "mode", "warm-up", "iterations", "p50 ms", "p90 ms", "p95 ms", "p99 ms",
               "p99 / p50", "mean ms", "img/s", "load (1 min)", "peak RSS MB"]  # fmt: skip
    runtime = env.get("runtime", {})
    policy = env.get("cpu_frequency_policy") or {}
    busy = [
        f"{e.name} b{b}"
        for e in results.entries
        for b in e.latency.batch_sizes
        if e.latency.at(b).busy
    ]
    blocks: list = [
        f"{runtime.get('runtime', '?')} {runtime.get('version', '?')} on {env.get('cpu', '?')} "
        f"({env.get('logical_cpus', '?')} logical CPUs; CPU frequency governor "
        f"{policy.get('governor', 'not exposed by this system')}), in a runner process of its own. "
        "Load is the 1-minute load average when each figure was timed. Mode serial is the "
        "application latency: one inference at a time, copies included, waited for before the "
        "next; enqueue-ahead (several streams in flight) and cuda-graph are trtexec's "
        "throughput modes, where a runtime has them.",
        Table(headers, rows),
    ]
    if busy:
        blocks.append(
            f"**Timed on a busy machine (p99 more than twice p50): {', '.join(busy)}.** Other work "
            "ran while these were measured; compare them with care, or measure again on a quiet machine."
        )
    return Section(f"Latency and memory, measured ({base.latency.where})", blocks)


def estimate_section(results) -> Section:
    target = results.target
    first = results.baseline.estimate
    a = first.latency[1]["assumptions"]
    rows = []
    for e in results.entries:
        est = e.estimate
        big = [b for b in sorted(est.latency) if b != 1]
        one = est.latency[1]
        rows.append([e.name, f"{one['latency_ms']:.3f}",
                     f"{est.latency_ms(big[0]):.3f} (b{big[0]})" if big else "-",
                     f"{one['memory_bound_layers']}/{one['layers']}", f"{est.memory_bytes / 2**20:.2f}"])  # fmt: skip
    return Section(
        f"{target['name']}: estimated, not measured",
        [
            f"{target['description']}. Per-layer roofline at {first.precision}: peak {a['peak_flops'] / 1e12:.2f} "
            f"T(FL)OP/s x efficiency {a['compute_efficiency']}, bandwidth {a['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s x "
            f"{a['memory_efficiency']}, {a['layer_overhead_us']} us per layer + {a['fixed_overhead_us']} us per inference "
            f"(peaks from the {a['peaks_source']}; efficiencies are the profile's assumptions). Model memory excludes the "
            "runtime and CUDA context.",
            Table(
                [
                    "entry",
                    "est. latency b1 ms",
                    "est. latency per batch ms",
                    "memory-bound layers",
                    "est. model memory MB",
                ],
                rows,
            ),
        ],
    )


def provenance_section(results) -> Section:
    config, prov = results.config, results.provenance
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    env = results.baseline.environment
    jetson = env.get("jetson")
    device = (
        f"{jetson['module']}, power mode {jetson.get('power_mode', '?')}, GPU clock {jetson.get('gpu_clock_mhz')} MHz"
        if jetson else f"{env.get('hostname', '?')} ({env.get('cpu', '?')})"
    )  # fmt: skip
    source = prov.get("edgeprune_source")
    code = (
        "edgeprune from an installed copy (no git checkout)"
        if not source
        else f"edgeprune at git commit `{source['commit']}`"
        + (" with uncommitted changes" if source.get("uncommitted_changes") else "")
    )
    test = results.dataset.get("test_sha256")
    digests = [
        [e.name, e.runtime, e.precision, f"`{e.artifact.get('sha256', 'not recorded')}`"]
        for e in results.entries
    ]
    return Section(
        "Provenance",
        [
            f"Created {prov['created']} on {prov['platform']}. Measured on: {device}.",
            f"Versions: {versions}. {code}.",
            f"Seed {config['seed']}; data {results.dataset['source']}"
            + (
                f" (test images sha256 `{test['images']}`, labels `{test['labels']}`)"
                if test
                else ""
            )
            + f"; target profile {results.target['source']}.",
            f"Command: `{' '.join(prov['command'])}`",
            "The artifacts measured (sha256 of each file):",
            Table(["entry", "runtime", "precision", "sha256"], digests, align="llll"),
            "Figures marked estimated come from the roofline model of the target profile; all others were measured on the "
            "deployed artifact.",
        ],
    )


def build_report(results, decision, plots: dict[str, str], task) -> Report:
    config = results.config
    sections = [
        decision_section(results, decision, plots, task),
        *task.report_sections(results, decision, plots),
        size_section(results, task),
        latency_section(results),
        estimate_section(results),
        provenance_section(results),
    ]
    return Report(
        title=f"edgeprune report: {results.run_dir}",
        intro=[
            f"Model `{config['model']}` on `{config['data']}`, {_methods(results)}, "
            f"target `{results.target_name}`."
        ],  # fmt: skip
        sections=sections,
    )


def _methods(results) -> str:
    """``method `l1-filter``` or ``methods `l1-filter`, `hrank```: what the candidates used."""
    found = list(dict.fromkeys(c.method for c in results.candidates if c.method))
    found = found or list(results.config.get("methods") or []) or [results.config.get("method")]
    return ("methods " if len(found) > 1 else "method ") + ", ".join(f"`{m}`" for m in found)
