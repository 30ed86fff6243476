from __future__ import annotations

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from edgeprune.config import RunConfig, build_config, parse_ratios, read_config_file
from edgeprune.errors import EdgepruneError


def test_flags_override_file_and_file_overrides_defaults():
    config = build_config({"finetune-epochs": 7, "seed": 3}, {"seed": "5"})
    assert config.train.finetune_epochs == 7
    assert config.data.seed == 5
    assert config.train.train_epochs == RunConfig().train.train_epochs


def test_ratio_forms():
    assert parse_ratios("0.25,0.5,0.75") == (0.25, 0.5, 0.75)
    assert parse_ratios("0.1:0.9:0.1") == tuple(round(0.1 * i, 6) for i in range(1, 10))
    assert parse_ratios([0.5, 0.25, 0.5]) == (0.25, 0.5)


@pytest.mark.parametrize("bad", ["1.0", "0", "-0.2,0.5", "a,b", "0.1:0.9:0", ""])
def test_bad_ratios_are_user_errors(bad):
    with pytest.raises(EdgepruneError):
        parse_ratios(bad)


def test_written_run_toml_is_a_valid_config_that_reproduces_the_run():
    config = build_config(
        {}, {"ratios": "0.3,0.6", "target": "jetson-orin", "ignore-layers": "a,b"}
    )
    again = build_config(tomllib.loads(config.to_toml()))
    assert again == config


def test_unknown_key_names_the_closest_one(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("finetune-epoch = 3\n")
    with pytest.raises(EdgepruneError, match="did you mean 'finetune-epochs'"):
        read_config_file(path)


def test_malformed_toml_is_a_user_error(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("ratios = [0.5,\n")
    with pytest.raises(EdgepruneError, match="not valid TOML"):
        read_config_file(path)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"finetune-epochs": -1}, "finetune-epochs"),
        ({"seed": 1.5}, "seed must be int"),
        ({"allocation": "layerwise"}, "allocation"),
        ({"precision": "fp8"}, "precision"),
        ({"latency-iterations": 3}, "latency-iterations"),
    ],
)
def test_invalid_values(values, message):
    with pytest.raises(EdgepruneError, match=message):
        build_config(values)


def test_options_are_read_by_section_and_written_flat():
    from edgeprune.config import OPTIONS, section_keys

    config = build_config({}, {"latency-batch": "8", "method": "fpgm", "max-acc-drop": "2"})
    assert config.measure.latency_batch == 8 and config.prune.method == "fpgm"
    assert config.value("max-acc-drop") == 2.0 and config.flat()["latency-batch"] == 8
    assert {ref.section for ref in OPTIONS.values()} == {
        "data", "train", "prune", "export", "measure", "explain", "select", "device", "sweep", "",
    }  # fmt: skip
    assert section_keys("select") == (
        "max-acc-drop", "min-accuracy", "max-chance-p", "max-ece-increase", "max-latency-ms",
        "max-memory-mb", "min-mpc", "min-rpc", "min-hcc", "min-pe", "ece-of", "limit-at",
        "objective", "select-by",
    )  # fmt: skip


def test_what_decides_a_baseline_is_derived_from_the_options():
    from edgeprune.config import BASELINE_KEYS, RESULT_KEYS

    # the review found runs differing in these merged silently
    for key in ("batch-size", "optimizer", "schedule", "input-size", "model", "seed", "data"):
        assert key in BASELINE_KEYS
    for key in ("finetune-epochs", "method", "max-acc-drop", "latency-iterations", "target"):
        assert key not in BASELINE_KEYS
    assert set(BASELINE_KEYS) <= set(RESULT_KEYS)  # what shapes the baseline shapes candidates


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"runtime": "tflite"},
            "runtime must be auto, onnxruntime, pytorch or tensorrt, got 'tflite'",
        ),
        ({"select-by": "best"}, "select-by must be constraints or pe"),
        ({"objective": "speed"}, "objective must be compression, latency or accuracy"),
        ({"task": "detection"}, "task must be classification"),
        ({"hcc-method": "gradcam+"}, "hcc-method must be cam, gradcam, gradcam++ or scorecam"),
        ({"optimizer": "adam"}, "optimizer must be sgd or adamw"),
        ({"onnx-cleanup": "slim"}, "onnx-cleanup must be none, onnxslim or onnxsim"),
        ({"corruptions": "cifar-c:/x"}, "unknown corruption source 'cifar-c'"),
        ({"precisions": "fp8"}, "unknown precision 'fp8'"),
    ],
)
def test_choices_come_from_the_registries_that_own_them(values, message):
    with pytest.raises(EdgepruneError, match=message.replace("+", r"\+")):
        build_config(values)


def test_help_shows_choices_and_defaults_from_the_options(capsys):
    from edgeprune.cli import main

    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "runtime of the variants (auto: the target's where it runs here: TensorRT or PyTorch on "
        "this machine's GPU, ONNX Runtime otherwise) (auto | onnxruntime | pytorch | tensorrt)"
        in text
    )
    assert "--latency-batch BATCH throughput batch size timed besides batch 1 (default: 64)" in text
    assert "corruption evaluation: auto (generate:1000" in text


def test_every_option_of_every_command_says_its_default():
    """A user reading --help never has to guess what an unset option does."""
    import argparse

    from edgeprune.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = []
    for name, command in commands.choices.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.option_strings or action.required or action.nargs == 0:
                continue  # positionals, required flags and switches have no default to tell
            text = formatter._get_help_string(action) or ""
            if "default" not in text:
                silent.append(f"{name} {action.option_strings[0]}: {text!r}")
    assert not silent, "\n".join(silent)


def test_options_whose_zero_means_something_still_say_zero_is_the_default(capsys):
    from edgeprune.cli import main

    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "seed for data split, training, fine-tuning and pruning (default: 0)" in text
    assert "once per sweep (default: 0)" in text
    assert "besides first conv and classifier (default: none)" in text


def test_a_run_toml_from_before_new_options_still_opens(tmp_path):
    """Options added since a run was made count as their defaults when it is resumed."""
    import contextlib

    from edgeprune.pipeline import open_run_dir

    def open_run_dir_once(config):
        with contextlib.ExitStack() as held:
            open_run_dir(config, held)

    config = build_config({}, {"out": str(tmp_path / "run")})
    open_run_dir_once(config)
    toml = config.run_dir / "run.toml"
    kept = [
        line for line in toml.read_text().splitlines() if not line.startswith(("task", "pe-method"))
    ]
    toml.write_text("\n".join(kept) + "\n")
    open_run_dir_once(config)  # no "made with different settings"
    changed = build_config({}, {"out": str(tmp_path / "run"), "pe-method": "gradcam"})
    (config.run_dir / "baseline").mkdir()
    (config.run_dir / "baseline" / "model.pt").write_bytes(b"trained")  # work to protect
    with pytest.raises(EdgepruneError, match="pe-method = 'gradcam\\+\\+' \\(now 'gradcam'\\)"):
        open_run_dir_once(changed)


def test_a_corrected_rerun_of_a_run_that_made_nothing_proceeds(tmp_path):
    """A mistake found after run.toml and bundle/ were written made the corrected command
    fail with "was made with different settings" although nothing had been computed."""
    import contextlib

    from edgeprune.pipeline import open_run_dir

    def open_run_dir_once(config):
        with contextlib.ExitStack() as held:
            open_run_dir(config, held)

    run = tmp_path / "run"
    open_run_dir_once(build_config({}, {"out": str(run), "corruptions": "generate:5"}))
    (run / "bundle").mkdir()
    (run / "bundle" / "clean.images.npy").write_bytes(b"of the mistaken data")
    corrected = build_config({}, {"out": str(run), "corruptions": "none"})
    open_run_dir_once(corrected)  # proceeds
    assert not (run / "bundle").exists()  # made again from the corrected settings
    assert 'corruptions = "none"' in (run / "run.toml").read_text()
    (run / "baseline").mkdir()
    (run / "baseline" / "metrics.json").write_text("{}")  # a finished entry: protected again
    with pytest.raises(EdgepruneError, match="was made with different settings"):
        open_run_dir_once(build_config({}, {"out": str(run), "corruptions": "generate:5"}))


def test_engines_built_for_another_target_sparsity_are_refused(tmp_path):
    """A semi-structured candidate's TensorRT engines are built with 2:4 sparse kernels
    exactly where the target runs them: a rerun for a target that does not (or does) kept
    them as "finished earlier" although this target would build them otherwise."""
    from edgeprune.files import write_json
    from edgeprune.pipeline import check_run_dir
    from edgeprune.rundir import RunLayout

    config = build_config({}, {"out": str(tmp_path / "run"), "method": "2:4"})
    layout = RunLayout(config.run_dir)
    write_json(layout.entry("2of4-0.50").metrics, {"kind": "semi-structured"})
    write_json(layout.entry("baseline").metrics, {"kind": "unpruned"})
    write_json(layout.entry("2of4-0.50@trt-fp16").variant_info,
               {"runtime": "tensorrt", "artifact": "model.orin.trt10.fp16.sparse.engine"})  # fmt: skip
    write_json(layout.entry("baseline@trt-fp16").variant_info,
               {"runtime": "tensorrt", "artifact": "model.orin.trt10.fp16.engine", "sparse_weights": False})  # fmt: skip
    write_json(layout.entry("baseline@int8").variant_info,
               {"runtime": "onnxruntime", "artifact": "model.onnx"})  # fmt: skip
    assert check_run_dir(config, layout, sparse_2_4=True) == []  # the target it was built for
    with pytest.raises(
        EdgepruneError, match=r"engines built with 2:4 sparse kernels \(2of4-0.50@trt-fp16\)"
    ):
        check_run_dir(config, layout, sparse_2_4=False)
    write_json(layout.entry("2of4-0.50@trt-fp16").variant_info,
               {"runtime": "tensorrt", "artifact": "model.x.engine", "sparse_weights": False})  # fmt: skip
    with pytest.raises(EdgepruneError, match="built without 2:4 sparse kernels"):
        check_run_dir(config, layout, sparse_2_4=True)
