"""Seconds spent in the consecutive stages of one job, the library's one clock for them.

The pipelines lap it at the end of each stage and return its figures as ``timings``; the
Space and the benchmark show those figures, so every report splits a reconstruction the
same way. Wall seconds run from the end of one stage to the end of the next; CPU seconds are
the process's (all its threads) over the same span, so they mean something only while one
job runs at a time, as in a benchmark.
"""

from __future__ import annotations

import time


class StageClock:
    """Wall and process-CPU seconds of consecutive stages; a stage lapped again adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, stage: str) -> float:
        """End ``stage`` now; returns the wall seconds of this lap."""
        wall, cpu = time.perf_counter(), time.process_time()
        seconds = wall - self._wall
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        return seconds

    @property
    def total(self) -> float:
        """Wall seconds of all stages lapped so far."""
        return sum(self.seconds.values())


def rename_stages(seconds: dict[str, float], names: dict[str, str]) -> dict[str, float]:
    """``seconds`` under the stage names a report uses (stages mapped to one name are summed; unmapped
    stages keep theirs), in the order the stages ran."""
    renamed: dict[str, float] = {}
    for stage, value in seconds.items():
        name = names.get(stage, stage)
        renamed[name] = renamed.get(name, 0.0) + value
    return renamed


__all__ = ["StageClock", "rename_stages"]
