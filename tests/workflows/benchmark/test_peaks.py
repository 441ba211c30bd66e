"""The measured GEMM peaks: positive, plausible, and the ceiling is the per-core rate x threads."""

from __future__ import annotations

from yof_darknet.workflows.benchmark.machine import cpu_flags
from yof_darknet.workflows.benchmark.peaks import PRECISIONS, measure_peaks


def test_peaks_are_plausible_rates_of_this_cpu():
    peaks = measure_peaks(threads=2, repeats=1)
    assert set(peaks) == set(PRECISIONS)
    for peak in peaks.values():
        # any x86 core of the last 15 years does more than 1 G and far less than 1000 G
        # multiply-accumulates per second in fp32; int8 with VNNI ~4x fp32
        assert 1e9 < peak.mac_per_cpu_s < 1e12, peak
        assert peak.mac_per_s > 0 and peak.size in (512, 1024)
        assert peak.ceiling == peak.mac_per_cpu_s * 2
    if {"avx512_vnni", "avx_vnni"} & set(cpu_flags()):
        # VNNI's vpdpbusd does 4 u8 x s8 products per 32-bit lane where FMA does one fp32:
        # a kernel that did not use it would not reach 2x
        assert peaks["int8"].mac_per_cpu_s > 2 * peaks["fp32"].mac_per_cpu_s, peaks
