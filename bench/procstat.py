"""CPU seconds and peak memory of process trees, read from /proc (Linux).

CPU of a tree is the sum, over its live processes, of utime + stime + cutime + cstime (fields
14-17 of /proc/PID/stat): a process that exited and was reaped counts in its parent's cutime and
cstime, so nothing is lost or counted twice as long as the tree's root lives. Peak memory is
VmHWM (the high-water mark of resident memory) from /proc/PID/status, kept per process by a
sampler thread; a process living shorter than one sampling interval can be missed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime + cutime + cstime
    own_ticks: int  # utime + stime


def snapshot() -> dict[int, Proc]:
    """Every process readable now, by pid."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[0] is the state (field 3 of stat): ppid is field 4, utime..cstime 14..17
        ticks = [int(v) for v in fields[11:15]]
        found[int(entry.name)] = Proc(int(entry.name), int(fields[1]), sum(ticks), ticks[0] + ticks[1])
    return found


def depths(procs: dict[int, Proc], root: int) -> dict[int, int]:
    """``root`` (depth 0) and every live process below it, with how far below it is."""
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: dict[int, int] = {}
    todo = [(root, 0)] if root in procs else []
    while todo:
        pid, depth = todo.pop()
        if pid not in found:
            found[pid] = depth
            todo.extend((child, depth + 1) for child in children.get(pid, []))
    return found


def descendants(procs: dict[int, Proc], root: int) -> set[int]:
    """``root`` and every live process below it."""
    return set(depths(procs, root))


def tree_cpu(procs: dict[int, Proc], root: int) -> float:
    """CPU seconds of ``root``'s tree so far (see the module docstring)."""
    return sum(procs[pid].cpu_ticks for pid in descendants(procs, root)) / TICKS


def own_cpu(procs: dict[int, Proc], pid: int) -> float:
    """CPU seconds of the process alone (utime + stime), 0 if it is gone."""
    return procs[pid].own_ticks / TICKS if pid in procs else 0.0


def vm_hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def comm(pid: int) -> str:
    """The process's program name (/proc/PID/comm, 15 characters at most)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class PeakSampler:
    """Samples VmHWM of processes sorted into classes by ``classify`` every ``interval`` seconds
    until stopped; ``peaks`` holds, per class, the largest VmHWM seen of any one process, and
    ``names`` the programs seen in each class (/proc/PID/comm) with how many processes ran each."""

    classify: Callable[[dict[int, Proc]], Iterable[tuple[str, int]]]
    interval: float = 0.5
    peaks: dict[str, float] = field(default_factory=dict)
    names: dict[str, dict[str, int]] = field(default_factory=dict)
    _seen: set[tuple[str, int]] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for kind, pid in self.classify(snapshot()):
            peak = vm_hwm_mib(pid)
            if peak is None:
                continue
            self.peaks[kind] = max(self.peaks.get(kind, 0.0), peak)
            if (kind, pid) not in self._seen:
                self._seen.add((kind, pid))
                names = self.names.setdefault(kind, {})
                name = comm(pid)
                names[name] = names.get(name, 0) + 1

    def __enter__(self) -> PeakSampler:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
