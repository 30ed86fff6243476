from __future__ import annotations

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets.profile import PROFILES_DIR, load_target, shipped_profiles

MINIMAL = """
name = "my-board"
description = "a user's board"
kind = "jetson"
[peak]
fp16_tflops = 5.0
[memory]
bandwidth_gbps = 50
[runtime]
default = "tensorrt"
precision = "fp16"
[estimate]
compute_efficiency = { fp16 = 0.4 }
"""


def test_shipped_profiles_load_and_include_the_required_ones():
    profiles = shipped_profiles()
    assert {"jetson-orin-nano", "jetson-agx-orin-64gb", "host-cpu"} <= set(profiles)
    assert load_target("jetson-orin").name == "jetson-agx-orin-64gb"  # the alias of AGX Orin


def test_every_shipped_figure_carries_a_source_comment():
    for path in PROFILES_DIR.glob("*.toml"):
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            numeric = value.split("#")[0].strip().replace(".", "", 1).isdigit()
            if numeric and key.split()[0] in {
                "fp32_tflops",
                "fp16_tflops",
                "int8_tops",
                "bandwidth_gbps",
                "cuda_cores",
                "max_clock_mhz",
                "dla_cores",
            }:
                assert "#" in value and "[" in value.split("#", 1)[1], (
                    f"{path.name}: {line!r} has no source tag"
                )


def test_unknown_target_suggests_the_closest_name():
    with pytest.raises(EdgepruneError, match="did you mean 'jetson-orin-nano'"):
        load_target("jetson-orin-nan")


def test_user_profile_is_validated_like_shipped_ones(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL)
    profile = load_target(str(path))
    assert profile.name == "my-board" and profile.peak.fp16_tflops == 5.0


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.replace("fp16_tflops = 5.0", "fp16_tflop = 5.0"),
            "did you mean 'fp16_tflops'",
        ),
        (lambda t: t.replace("fp16_tflops = 5.0", 'fp16_tflops = "fast"'), "must be a number"),
        (
            lambda t: t.replace('precision = "fp16"', 'precision = "fp8"'),
            "precision must be one of",
        ),
        (lambda t: t.replace("fp16 = 0.4", "fp16 = 1.5"), "compute_efficiency"),
        (lambda t: t.replace('kind = "jetson"', 'kind = "phone"'), "kind must be one of"),
        (lambda t: t.replace("[peak]\nfp16_tflops = 5.0", ""), "needs \\[peak\\]"),
        (lambda t: t + "\n[extra]\nx = 1\n", "unknown key 'extra'"),
        (lambda t: t.replace("[memory]", "[memory"), "not valid TOML"),
    ],
)
def test_malformed_profiles_are_one_line_user_errors(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(MINIMAL))
    with pytest.raises(EdgepruneError, match=message) as info:
        load_target(str(path))
    assert "\n" not in str(info.value)


def test_missing_profile_file(tmp_path):
    with pytest.raises(EdgepruneError, match="not found"):
        load_target(str(tmp_path / "absent.toml"))
