"""The device pool: one job per device at a time, jobs spread over the devices, a job whose
device drops out retried on another, and one line when none is left."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.targets.execute import pool_devices
from edgeprune.targets.pool import DevicePool
from edgeprune.targets.profile import load_target
from edgeprune.targets.remote import DeviceLost


def test_each_device_runs_one_job_at_a_time_and_all_are_used():
    pool = DevicePool(["a@h:1", "b@h:2"])
    running: dict[str, int] = {"a@h:1": 0, "b@h:2": 0}
    most: dict[str, int] = dict(running)
    used: list[str] = []
    lock = threading.Lock()

    def job(device: str) -> str:
        with lock:
            running[device] += 1
            most[device] = max(most[device], running[device])
            used.append(device)
        time.sleep(0.05)
        with lock:
            running[device] -= 1
        return device

    with ThreadPoolExecutor(max_workers=6) as threads:
        results = list(threads.map(lambda _: pool.run(job), range(12)))
    assert most == {"a@h:1": 1, "b@h:2": 1}  # never two jobs on one device
    assert set(results) == {"a@h:1", "b@h:2"} and len(used) == 12


def test_a_job_whose_device_drops_out_runs_on_another():
    pool = DevicePool(["a@h:1", "b@h:2"])
    tried: list[str] = []
    said: list[str] = []

    def job(device: str) -> str:
        tried.append(device)
        if device == "a@h:1":
            raise DeviceLost(
                "remote evaluation on a@h:1 failed at step 'run': broken pipe (exit 255)"
            )
        return device

    assert pool.run(job, said.append) == "b@h:2"
    assert tried == ["a@h:1", "b@h:2"] and pool.alive == ["b@h:2"]
    assert said and "a@h:1 dropped out" in said[0] and "devices left: b@h:2" in said[0]
    assert pool.run(job) == "b@h:2"  # the lost device is never offered again


def test_a_job_s_own_error_is_not_a_lost_device():
    pool = DevicePool(["a@h:1", "b@h:2"])

    def job(device: str):
        raise EdgepruneError("runner failed on model.onnx (exit 1): bad input")

    with pytest.raises(EdgepruneError, match="runner failed"):
        pool.run(job)
    assert pool.alive == ["a@h:1", "b@h:2"]


def test_with_every_device_gone_the_run_stops_with_one_line():
    pool = DevicePool(["a@h:1", "b@h:2"])

    def job(device: str):
        raise DeviceLost(f"{device} timed out")

    with pytest.raises(EdgepruneError, match="every device of the pool dropped out") as error:
        pool.run(job)
    assert "a@h:1: a@h:1 timed out; b@h:2: b@h:2 timed out" in str(error.value)
    assert "finished work is kept" in str(error.value)


def test_the_pool_comes_from_the_flag_or_the_profile(tmp_path):
    orin = load_target("jetson-orin-nano")
    assert pool_devices("a@h:1,b@h:2", orin) == ["a@h:1", "b@h:2"]
    assert pool_devices(None, orin) == ["local"]  # no ssh in the shipped profile
    profile = tmp_path / "two.toml"
    profile.write_text(
        'name = "two"\ndescription = "two devices"\nkind = "host"\n'
        '[device]\nssh = "n@orin-1, n@orin-2"\n'
    )
    assert pool_devices(None, load_target(str(profile))) == ["n@orin-1", "n@orin-2"]
    with pytest.raises(EdgepruneError, match="cannot be one device of a pool"):
        pool_devices("a@h:1,local", orin)
    with pytest.raises(EdgepruneError, match="a device is named twice"):
        DevicePool(["a@h:1", "a@h:1"])
