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
