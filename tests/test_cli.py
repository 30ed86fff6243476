"""Bad input: one clear line naming the problem, a non-zero exit, no traceback, and nothing
already written lost."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgeprune.cli import main
from edgeprune.models import ModelSpec, create_model


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file's content, but the lock file's (it names the last process that opened the
    run, which is bookkeeping, not a result)."""
    from edgeprune.lock import LOCK_FILE

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    torch.save(create_model(ModelSpec("resnet20", 10)).state_dict(), tmp / "resnet20.pt")
    torch.save(create_model(ModelSpec("small-resnet", 10)), tmp / "pickled.pt")
    (tmp / "bad.toml").write_text("ratios = [0.5,\n")
    (tmp / "bad_target.toml").write_text('name = "x"\n')
    (tmp / "seed_true.toml").write_text("seed = true\n")
    (tmp / "notes.pt").write_text("these are my notes, not weights\n")
    (tmp / "a_file").write_text("x")
    (tmp / "edgeprune_test_heads.py").write_text(
        "import torch.nn as nn\n"
        "def twelve_classes():  # ignores the data's class count\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 12))\n"
        "def flat_input(num_classes):  # takes vectors, not images\n"
        "    return nn.Linear(5, num_classes)\n"
    )
    from edgeprune.export import ExportSettings, export_onnx

    spec = ModelSpec("small-resnet", 10)
    export_onnx(create_model(spec).eval(), tmp / "model.onnx", (3, 32, 32), ExportSettings())
    return {
        "unknown target": (
            ["--target", "jetson-orin-nan"],
            "unknown target 'jetson-orin-nan' (did you mean 'jetson-orin-nano'?)",
        ),
        "unknown model": (["--model", "resnet21"], "unknown model 'resnet21'"),
        "unknown method": (
            ["--method", "l1filter"],
            "unknown pruning method 'l1filter' (did you mean 'l1-filter'?)",
        ),
        "unknown dataset": (["--data", "mnist"], "unknown dataset 'mnist'"),
        "missing data dir": (["--data", f"cifar10:{tmp / 'nowhere'}"], "missing data_batch_1"),
        "missing weights": (["--weights", str(tmp / "absent.pt")], "checkpoint not found"),
        "weights that do not fit": (
            ["--weights", str(tmp / "resnet20.pt")],
            "does not fit model small-resnet",
        ),
        "weights with pickled code": (
            ["--weights", str(tmp / "pickled.pt")],
            "pickled Python objects",
        ),
        "malformed config": (["--config", str(tmp / "bad.toml")], "not valid TOML"),
        "missing config": (["--config", str(tmp / "absent.toml")], "config file not found"),
        "malformed target profile": (
            ["--target", str(tmp / "bad_target.toml")],
            "missing or empty string 'description'",
        ),
        "bad ratio": (["--ratios", "0.5,1.5"], "ratios must lie strictly between 0 and 1"),
        "unknown flag": (["--finetune-epoch", "3"], "unrecognized arguments"),
        # what was accepted and then silently meant something else, or nothing
        "TOML true as a seed": (
            ["--config", str(tmp / "seed_true.toml")],
            "seed must be int, got True",
        ),
        "negative seed": (["--seed", "-1"], "seed must lie in 0 .. 4294967295"),
        "64-bit seed": (["--seed", str(2**64)], "seed must lie in 0 .. 4294967295"),
        "infinite learning rate": (["--train-lr", "inf"], "train-lr must be a finite number"),
        "NaN budget": (["--max-latency-ms", "nan"], "max-latency-ms must be a finite number"),
        "HCC minimum below 0": (["--min-hcc", "-1"], "min-hcc is a correlation: 0 (none) to 1"),
        "negative ECE limit": (
            ["--max-ece-increase", "-1"],
            "max-ece-increase is an absolute change",
        ),
        "PE minimum above 1": (["--min-pe", "1.5"], "min-pe is a PE-score: 0 (none) to 1"),
        "mPC as a percentage": (
            ["--min-mpc", "85"],
            "min-mpc is a fraction of the images (0.85 means 85 %)",
        ),
        "accuracy floor as a percentage": (
            ["--min-accuracy", "80"],
            "min-accuracy is a fraction of the images (0.8 means 80 %), got 80",
        ),
        "chance p-value of 1": (["--max-chance-p", "1"], "max-chance-p is a p-value"),
        "degenerate ratio sweep": (
            ["--ratios", "0.000001:0.999999:0.00000001"],
            "give 99,999,801 candidates; at most 100 per run",
        ),
        # late checks: found before the data is loaded or anything is written
        "torchvision typo": (
            ["--model", "torchvision:resnt18"],
            "unknown torchvision model 'resnt18' (did you mean torchvision:resnet18?)",
        ),
        "factory for another class count": (
            ["--model", "edgeprune_test_heads:twelve_classes"],
            "the model gives 12 scores per image, the data has 10 classes",
        ),
        "model that cannot take the images": (
            ["--model", "edgeprune_test_heads:flat_input"],
            "model edgeprune_test_heads:flat_input fails on one 32x32 image with 3 channel(s)",
        ),
        "corruption folder that is not one": (
            ["--corruptions", f"cifar10-c:{tmp}"],
            "is not a CIFAR-10-C-layout folder: labels.npy is missing",
        ),
        "factory module missing": (
            ["--model", "no_such_module:build"],
            "cannot import model factory module 'no_such_module'",
        ),
        "ONNX file as weights": (
            ["--weights", str(tmp / "model.onnx")],
            "is an ONNX model, not a PyTorch checkpoint",
        ),
        "text file as weights": (
            ["--weights", str(tmp / "notes.pt")],
            "is a text file, not a PyTorch checkpoint",
        ),
        "device without a user": (["--device", "@127.0.0.1:1"], "not an ssh destination"),
        "device with an open bracket": (["--device", "root@[::1"], "not an ssh destination"),
        "device with shell syntax": (["--device", "me@jetson;reboot"], "not an ssh destination"),
        "device with a command": (["--device", "me@$(id)"], "not an ssh destination"),
        "ssh options with an open quote": (["--ssh-options", "-i 'key"], "No closing quotation"),
        "unknown normalisation": (
            ["--normalize", "imagenett"],
            "--normalize 'imagenett': expected dataset | imagenet | none | MEAN/STD",
        ),
        "normalisation with a zero std": (
            ["--normalize", "0.5/0"],
            "means must be finite and stds positive",
        ),
        "normalisation with too few stds": (["--normalize", "0.5,0.4/0.2"], "1 std(s)"),
        "normalisation for other channels": (
            ["--normalize", "0.5,0.5/0.2,0.2"],
            "gives 2 channel(s); the data has 3",
        ),
        "adaptation without weights": (
            ["--adapt-epochs", "2"],
            "adapt-epochs fine-tunes a --weights checkpoint",
        ),
        "out is a file": (["--out", str(tmp / "a_file")], "is an existing file, not a folder"),
        "out under a file": (["--out", str(tmp / "a_file" / "run")], "a parent is a file"),
    }


def test_each_bad_input_is_one_line_and_loses_nothing(
    fast_run, fast_flags, tmp_path, capsys, monkeypatch
):
    monkeypatch.syspath_prepend(str(tmp_path))  # the factories the rows name
    before = _snapshot(fast_run)
    for i, (label, (flags, message)) in enumerate(_bad_inputs(tmp_path).items()):
        # on a fresh directory: the exact message
        code = main(["compress", "--out", str(tmp_path / f"fresh{i}"), *fast_flags, *flags])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2, label
        assert len(lines) == 1, f"{label}: {lines}"
        assert lines[0].startswith("edgeprune: error: ") and message in lines[0], (
            f"{label}: {lines[0]}"
        )
        assert not (tmp_path / f"fresh{i}").exists(), label  # refused before any write
        # on a finished run: an error too, and every file it holds is untouched
        assert main(["compress", "--out", str(fast_run), *fast_flags, *flags]) == 2, label
        assert len(capsys.readouterr().err.strip().splitlines()) == 1, label
        assert _snapshot(fast_run) == before, label


def test_changing_a_result_setting_of_a_finished_run_is_refused(fast_run, fast_flags, capsys):
    before = _snapshot(fast_run)
    code = main(["compress", "--out", str(fast_run), *fast_flags, "--finetune-epochs", "9"])
    assert code == 2
    assert (
        "was made with different settings: finetune-epochs = 1 (now 9)" in capsys.readouterr().err
    )
    assert _snapshot(fast_run) == before


def test_another_target_with_another_channel_multiple_is_refused(fast_run, fast_flags, capsys):
    """--target is not a result setting (estimates are made again for the new target), but
    the host-cpu candidates were pruned to multiples of 16: a jetson-nano rerun (multiples
    of 2) kept them as "finished earlier" and reported them as its own."""
    before = _snapshot(fast_run)
    code = main(["compress", "--out", str(fast_run), *fast_flags, "--target", "jetson-nano"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "holds candidates pruned to channel multiples of 16 (l1-filter-0.25, l1-filter-0.50)" in err
    )
    assert "this run prunes to multiples of 2 (--target jetson-nano" in err
    assert _snapshot(fast_run) == before


def test_dry_run_finds_every_bad_input_the_run_would(
    fast_run, fast_flags, tmp_path, capsys, monkeypatch
):
    monkeypatch.syspath_prepend(str(tmp_path))
    before = _snapshot(fast_run)
    for i, (label, (flags, message)) in enumerate(_bad_inputs(tmp_path).items()):
        out = tmp_path / f"dry{i}"
        assert main(["compress", "--dry-run", "--out", str(out), *fast_flags, *flags]) == 2, label
        assert message in capsys.readouterr().err, label
        assert not out.exists(), label
    code = main(
        ["compress", "--dry-run", "--out", str(fast_run), *fast_flags, "--finetune-epochs", "9"]
    )
    assert code == 2 and "was made with different settings" in capsys.readouterr().err
    assert _snapshot(fast_run) == before


def test_dry_run_prints_the_plan_and_writes_nothing(fast_run, fast_flags, tmp_path, capsys):
    out = tmp_path / "new"
    assert main(["compress", "--dry-run", "--out", str(out), *fast_flags]) == 0
    plan = capsys.readouterr().out
    assert not out.exists()
    assert f"run directory: {out} (new)" in plan
    assert (
        "candidates (2): l1-filter-0.25, l1-filter-0.50; l1-filter, fine-tuned 1 epoch each" in plan
    )
    assert "model: small-resnet, trained 4 epochs" in plan
    assert "to do: baseline, l1-filter-0.25, l1-filter-0.50" in plan
    before = _snapshot(fast_run)  # a finished run: what is kept, nothing to do, untouched
    assert main(["compress", "--dry-run", "--out", str(fast_run), *fast_flags]) == 0
    plan = capsys.readouterr().out
    assert "finished and kept: baseline, l1-filter-0.25, l1-filter-0.50" in plan
    assert "to do: nothing" in plan
    assert _snapshot(fast_run) == before


def test_quick_is_a_preset_under_the_flags_with_its_own_run_directory(
    tmp_path, capsys, monkeypatch
):
    from edgeprune.config import QUICK_PRESET

    monkeypatch.chdir(tmp_path)
    assert main(["compress", "--quick", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "runs/small-resnet-digits-l1-filter-quick (new)" in plan
    assert f"trained {QUICK_PRESET['train-epochs']} epochs" in plan
    assert f"candidates (1): l1-filter-{float(QUICK_PRESET['ratios']):.2f}" in plan
    assert "100 images per corruption and severity" in plan
    assert main(["compress", "--quick", "--dry-run", "--ratios", "0.3,0.6", "--out", "mine"]) == 0
    plan = capsys.readouterr().out
    assert "run directory: mine (new)" in plan and "candidates (2)" in plan


def test_console_script_prints_no_traceback(tmp_path):
    script = Path(sys.executable).with_name("edgeprune")
    done = subprocess.run(
        [str(script), "compress", "--target", "nowhere", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("edgeprune: error: unknown target 'nowhere'")


def test_targets_and_methods_list(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert (
        "jetson-orin-nano" in out
        and "jetson-agx-orin-64gb (aliases: jetson-orin" in out
        and "host-cpu" in out
    )
    assert main(["methods"]) == 0
    assert "l1-filter" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command", [["select", "/nonexistent/run"], ["report", "/nonexistent/run"]]
)
def test_commands_on_a_missing_run_directory(command, capsys):
    assert main(command) == 2
    assert "has no results.json" in capsys.readouterr().err


def test_evaluate_an_artifact_on_a_runs_bundle(fast_run, tmp_path, capsys):
    from edgeprune.files import read_json

    artifact = fast_run / "l1-filter-0.50" / "model.onnx"
    code = main(["evaluate", str(artifact), "--bundle", str(fast_run / "bundle"), "--target", "jetson-orin-nano",
                 "--latency-iterations", "10", "--out", str(tmp_path / "eval"), "--quiet"])  # fmt: skip
    assert code == 0
    metrics = read_json(tmp_path / "eval" / "metrics.json")
    compressed = read_json(fast_run / "l1-filter-0.50" / "metrics.json")
    assert metrics["quality"]["accuracy"] == compressed["quality"]["accuracy"]
    assert metrics["quality"]["corruption"]["mPC"] > 0 and metrics["estimate"]["estimated"]
    out = capsys.readouterr().out
    assert "(estimated)" in out and "measured" in out


def test_evaluate_a_static_batch_artifact(fast_run, tmp_path, capsys):
    """Before: the accuracy pass padded to batch 1, then the throughput timing fed batch 64
    ("Got: 64 Expected: 1") and the evaluation died."""
    from edgeprune.export import ExportSettings, export_onnx
    from edgeprune.files import read_json

    model = create_model(ModelSpec("small-resnet", 10)).eval()
    static = export_onnx(
        model, tmp_path / "static.onnx", (3, 32, 32), ExportSettings(dynamic_batch=False)
    )
    code = main(["evaluate", str(static.path), "--bundle", str(fast_run / "bundle"),
                 "--latency-iterations", "10", "--out", str(tmp_path / "eval"), "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    latency = read_json(tmp_path / "eval" / "metrics.json")["latency"]
    assert sorted(latency["batches"]) == ["1"]
    assert "static batch 1: timed at batch 1 only" in latency["note"]


def test_a_ctrl_c_after_the_work_is_done_is_not_a_silent_death(tmp_path):
    """Before: a SIGINT between the last write and the interpreter's exit ended the process
    with -2 (or a KeyboardInterrupt traceback) and no message, after a finished run."""
    script = (
        "import os, signal, sys, time\n"
        "from edgeprune.cli import finished, main\n"
        "code = finished(main(['targets']))\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(0.2)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == ""
    assert "jetson-orin-nano" in done.stdout


def test_main_leaves_the_callers_sigint_handling_as_it_was():
    """main() once left SIGINT ignored in the calling process, which every program it then
    started inherited: a Ctrl-C could no longer stop them."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    assert main(["targets"]) == 0
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "/nowhere/model.onnx", "--data", "digits"], "artifact not found"),
        (["evaluate", "{artifact}"], "needs --bundle"),
        (["evaluate", "{artifact}", "--bundle", "/nowhere"], "not an eval bundle"),
        (["evaluate", "{artifact}", "--batch-size", "0"], "batch sizes must be > 0"),
        (["evaluate", "{artifact}", "--latency-batch", "0"], "batch sizes must be > 0"),
        (
            ["evaluate", "{artifact}", "--latency-iterations", "0"],
            "latency-iterations must be >= 10",
        ),
        (["evaluate", "{artifact}", "--device", "me@[::1"], "not an ssh destination"),
    ],
)
def test_evaluate_bad_input(fast_run, tmp_path, capsys, args, message):
    artifact = str(fast_run / "baseline" / "model.onnx")
    assert (
        main([a.replace("{artifact}", artifact) for a in args] + ["--out", str(tmp_path / "e")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_evaluate_names_its_folder_after_the_run_and_entry(tmp_path):
    """Every artifact of a run is model.onnx: named after that alone, evaluating a second
    candidate silently replaced the first one's evaluation (runs/evaluate-model)."""
    from edgeprune.cli import default_evaluation_folder

    run = tmp_path / "my-run"
    for entry in ("baseline", "l1-filter-0.50"):
        (run / entry).mkdir(parents=True)
    (run / "run.toml").write_text("")
    assert default_evaluation_folder(run / "baseline" / "model.onnx") == Path(
        "runs/evaluate-my-run-baseline"
    )
    assert default_evaluation_folder(run / "l1-filter-0.50" / "model.onnx") == Path(
        "runs/evaluate-my-run-l1-filter-0.50"
    )
    assert default_evaluation_folder(run / "baseline" / "model.int8.onnx") == Path(
        "runs/evaluate-my-run-baseline-model.int8"
    )
    (tmp_path / "exports").mkdir()
    assert default_evaluation_folder(tmp_path / "exports" / "net.onnx") == Path(
        "runs/evaluate-exports-net"
    )


def test_runs_lists_each_run_with_its_choice_and_says_what_it_cannot_read(
    fast_run, tmp_path, capsys
):
    import shutil

    folder = tmp_path / "runs"
    shutil.copytree(
        fast_run,
        folder / "fast",
        ignore=shutil.ignore_patterns("bundle", "*.onnx", "*.pt", "device"),
    )
    (folder / "study" / "half").mkdir(parents=True)
    (folder / "study" / "half" / "run.toml").write_text("")  # interrupted before any result
    (folder / "broken").mkdir()
    (folder / "broken" / "run.toml").write_text("")
    (folder / "broken" / "results.json").write_text("{ not json")
    (folder / "notes").mkdir()  # not a run: not listed
    assert main(["runs", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[2:]}
    assert set(rows) == {
        str(folder / "broken"),
        str(folder / "fast"),
        str(folder / "study" / "half"),
    }
    from edgeprune.runs import read_run

    chosen = read_run(fast_run).decision.chosen or "baseline kept"
    assert "small-resnet" in rows[str(folder / "fast")] and "host-cpu" in rows[str(folder / "fast")]
    assert rows[str(folder / "fast")].rstrip().endswith(chosen)
    assert (
        rows[str(folder / "study" / "half")].rstrip().endswith("unfinished (no results.json yet)")
    )
    assert "unreadable:" in rows[str(folder / "broken")]
    assert main(["runs", str(tmp_path / "absent")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_compare_puts_runs_side_by_side(fast_run, capsys):
    from edgeprune.runs import read_run

    run = read_run(fast_run)
    chosen = run.decision.chosen
    assert main(["compare", str(fast_run), str(fast_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0].split(), [line for line in lines[2:] if line.startswith(fast_run.name)]
    assert header[:3] == ["run", "entry", "MACs"] and "ECE" in header and "ms" in header
    assert len(rows) == 2 * (2 if chosen else 1)  # baseline and choice of each run
    assert all("host-cpu" in r and r.rstrip().endswith("measured") for r in rows)
    assert main(["compare", str(fast_run), "--all"]) == 0
    every = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith(fast_run.name)
    ]
    assert len(every) == len(run.results.entries)
