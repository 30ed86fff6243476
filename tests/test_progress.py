"""Progress lines: the rate so far and the time the rest takes at that rate."""

from __future__ import annotations

from edgeprune.progress import duration, rate_and_time_left


def test_rate_and_time_left():
    # 1,000 of 10,000 images in 10 s: 100 images/s, 9,000 left = 90 s
    assert rate_and_time_left(1000, 10000, 10.0) == "100 images/s, about 1 min 30 s left"
    assert rate_and_time_left(10000, 10000, 50.0) == "200 images/s, done"
    assert rate_and_time_left(0, 10, 0.0) == "0 images/s"
    assert rate_and_time_left(3, 4, 3.0, "files") == "1 files/s, about 1 s left"


def test_duration():
    assert duration(0) == "0 s"
    assert duration(59.4) == "59 s"
    assert duration(60) == "1 min 00 s"
    assert duration(3599) == "59 min 59 s"
    assert duration(3600 + 5 * 60 + 59) == "1 h 05 min"


def test_a_sweep_says_which_candidate_and_the_time_left(tmp_path, capsys):
    from edgeprune.cli import main

    flags = ["--train-epochs", "1", "--finetune-epochs", "1", "--ratios", "0.25,0.5",
             "--corruptions", "none", "--latency-iterations", "10", "--latency-batch", "8"]  # fmt: skip
    assert main(["compress", "--target", "host-cpu", "--out", str(tmp_path / "r"), *flags]) == 0
    err = capsys.readouterr().err
    assert "candidate 1 of 2: l1-filter-0.25\n" in err
    assert "candidate 2 of 2: l1-filter-0.50, about " in err and " left" in err
    assert "baseline: epoch 1/1 loss" in err and "images/s, done)" in err


def test_a_long_epoch_says_where_it_is(monkeypatch):
    import numpy as np
    import torch.nn as nn

    from edgeprune import train as training
    from edgeprune.data.datasets import Split
    from edgeprune.inference import Normalizer

    monkeypatch.setattr(training, "IN_EPOCH_LINE_SECONDS", 0.0)  # every step is "long"
    rng = np.random.default_rng(0)
    data = Split(rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 2, 40))
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 2))
    lines: list[str] = []
    recipe = training.TrainRecipe(epochs=2, lr=0.01, batch_size=16)
    training.train(model, data, Normalizer((0.5,) * 3, (0.25,) * 3), recipe, progress=lines.append)
    inside = [line for line in lines if "images, loss so far" in line]
    assert inside[0].startswith("epoch 1/2: 16 of 40 images, loss so far ")
    assert any(line.startswith("epoch 2/2: 32 of 40 images") for line in inside)
    assert "left)" in inside[0] and lines[-1].startswith("epoch 2/2 loss ")
