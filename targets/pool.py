"""A pool of devices of one target: evaluations of different entries run on different
devices at once, each device runs one at a time (a Jetson timed while another job runs
there gives wrong latency), and a device that drops out has its job retried on another.

A device is an SSH destination (``user@host[:port]``) or None (this machine). A job is a
function of the device; it raises :class:`edgeprune.targets.remote.DeviceLost` when the
device itself failed (the connection broke or timed out), which is what moves the job to
another device; any other error is the job's own and is raised as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from edgeprune.errors import EdgepruneError
from edgeprune.targets.remote import DeviceLost

T = TypeVar("T")


def device_name(device: str | None) -> str:
    return device or "this machine"


class DevicePool:
    def __init__(self, devices: Sequence[str | None]) -> None:
        if not devices:
            raise ValueError("a pool needs at least one device")
        if len(set(devices)) != len(devices):
            raise EdgepruneError(
                f"--device: a device is named twice ({', '.join(map(device_name, devices))})"
            )
        self.devices = list(devices)
        self.lost: dict[str | None, str] = {}  # device -> why it dropped out
        self._free = list(devices)
        self._ready = threading.Condition()

    def __len__(self) -> int:
        return len(self.devices)

    @property
    def alive(self) -> list[str | None]:
        return [d for d in self.devices if d not in self.lost]

    def _take(self) -> str | None:
        with self._ready:
            while not self._free:
                if not self.alive:
                    raise self._none_left()
                self._ready.wait()
            return self._free.pop(0)

    def _give(self, device: str | None, lost: str | None = None) -> None:
        with self._ready:
            if lost is None:
                self._free.append(device)
            else:
                self.lost[device] = lost
            self._ready.notify_all()

    def _none_left(self) -> EdgepruneError:
        why = "; ".join(f"{device_name(d)}: {reason}" for d, reason in self.lost.items())
        return EdgepruneError(
            f"every device of the pool dropped out ({why}); finished work is kept: rerun when "
            "one is back"
        )

    def run(
        self, job: Callable[[str | None], T], progress: Callable[[str], None] | None = None
    ) -> T:
        """``job(device)`` on the first free device; again on another when it drops out."""
        while True:
            device = self._take()
            try:
                result = job(device)
            except DeviceLost as exc:
                self._give(device, lost=str(exc))
                if progress:
                    remaining = ", ".join(map(device_name, self.alive)) or "none"
                    progress(
                        f"{device_name(device)} dropped out ({exc}); devices left: {remaining}"
                    )
                if not self.alive:
                    raise self._none_left() from None
                continue
            except BaseException:
                self._give(device)
                raise
            self._give(device)
            return result
