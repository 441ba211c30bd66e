"""The machine a benchmark ran on (CPU model and flags, threads) and how busy it was meanwhile.

A shared machine makes wall-clock times mean little: :class:`LoadMeter` measures the share of
the CPUs that *other* processes used over a span (``/proc/stat`` busy time minus this process's
own CPU time), which the benchmark prints beside its figures, and the CPU time this process
spent (``time.process_time``), which other processes inflate far less than the wall clock.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

# the flags that decide which kernels ONNX Runtime, OpenCV and OpenVINO can use
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


@dataclass(frozen=True)
class Machine:
    cpu: str
    flags: tuple[str, ...]  # the ones of FLAGS this CPU has
    cpus: int  # CPUs this process may run on
    threads: int  # engine threads
    system: str
    load_average: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    def describe(self) -> str:
        flags = ", ".join(self.flags) or "none of " + "/".join(FLAGS)
        one, five, _ = self.load_average
        return (
            f"{self.cpu}; {self.cpus} CPU(s) usable, {self.threads} engine thread(s); flags: "
            f"{flags}; {self.system}; load average {one:.2f} (1 min), {five:.2f} (5 min)"
        )


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    """The flags of :data:`FLAGS` that ``cpuinfo`` lists (none when it cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.partition(":")[2].split())
            return tuple(f for f in FLAGS if f in present)
    return ()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def this_machine(threads: int) -> Machine:
    return Machine(
        cpu=cpu_model(),
        flags=cpu_flags(),
        cpus=len(os.sched_getaffinity(0)),
        threads=threads,
        system=f"{platform.system()} {platform.release()}",
        load_average=os.getloadavg(),
    )


def _jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot; (0, 0) where /proc/stat is missing."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class LoadMeter:
    """Wall seconds, this process's CPU seconds and the others' share of the CPUs over a span::

    meter = LoadMeter()
    work()
    wall, cpu, others = meter.stop()
    """

    _TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self) -> None:
        self._busy, self._total = _jiffies()
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def stop(self) -> tuple[float, float, float]:
        wall, cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu
        busy, total = _jiffies()
        span = (total - self._total) / self._TICK  # CPU-seconds that passed on all CPUs
        if span <= 0:
            return wall, cpu, 0.0
        others = max((busy - self._busy) / self._TICK - cpu, 0.0) / span
        return wall, cpu, min(others, 1.0)


def rss_mib() -> float:
    """Resident memory of this process (MiB), from /proc/self/status."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """Peak resident memory since the last :func:`reset_peak_rss` (MiB)."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ``clear_refs`` 5); False where
    it cannot (then :func:`peak_rss_mib` is the peak since the process started)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0
