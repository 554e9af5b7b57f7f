"""`celery -A bench.celery_bench_app worker`: the product's Celery app plus the benchmark's
sources (registered in every process of the benchmark: workers, the local worker)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd

from core.celery_app import app
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult
from core.connectors.sample_ads import SampleAds

__all__ = ["app"]


class Empty(SampleAds):
    """Answers at once with no rows: what is left is the executor's overhead."""

    name = "bench_empty"
    title = "Empty (benchmark)"

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=iter(()))


class CpuBound(SampleAds):
    """Sample Ads rows after `cpu_seconds` of pure-Python work per run (a parser, a
    decompressor): throughput follows the cores the workers have."""

    name = "bench_cpu"
    title = "CPU-bound (benchmark)"
    CPU_SECONDS = 1.0

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._burnt(request))

    def _burnt(self, request: FetchRequest) -> Iterator[pd.DataFrame]:
        deadline = time.process_time() + self.CPU_SECONDS
        total = 0
        while time.process_time() < deadline:  # CPU time: a waiting process burns none
            total += sum(i * i for i in range(2_000))
        yield from self._chunks(request)


for source in (Empty(), CpuBound()):
    if source.name not in registry.names():
        registry.register(source)
