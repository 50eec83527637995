"""Counters and histograms kept per thread in plain numbers and lists, summed when Prometheus scrapes.

What zig counts per batch or per message is written by one thread into a tally of its own, so an update takes no
lock: prometheus_client's take one per call, and a route's worker threads, updating the same series, would wait on
each other for every batch. A scrape reads the tallies as they stand.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from operator import sub
from typing import Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]
T = TypeVar("T")


class Count:
    """One thread's count of one series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Bins:
    """One thread's observations of one histogram series: bucket counts (the last above every bound) and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def laps(self, stamps: list[float]) -> None:
        """Consecutive calls timed by one clock reading each: `stamps` starts with the first call's start, then the
        end of each call (the next one's start). One pass in C finds the usual case, every call inside the first
        bucket."""
        if len(stamps) < 2:
            return
        durations = list(map(sub, stamps[1:], stamps))
        self.total += stamps[-1] - stamps[0]
        counts = self.counts
        if max(durations) <= self.bounds[0]:
            counts[0] += len(durations)
            return
        for seconds in durations:
            counts[bisect_left(self.bounds, seconds)] += 1


class _Family(Collector, Generic[T]):
    """The tallies of every thread, by the label values of their series."""

    def __init__(self, name: str, documentation: str, labelnames: Labels) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = labelnames
        self._lock = threading.Lock()  # taken to add a tally or to read the list of them, never to update one
        self._series: dict[Labels, list[T]] = {}
        self._created: dict[Labels, float] = {}  # when each series first showed, as prometheus_client's `_created`

    def declare(self, labels: Labels) -> None:
        """Show the series (at zero) before any thread has a tally of it, as a labelled prometheus_client metric
        does from its first labels() call."""
        with self._lock:
            self._series_of(labels)

    def _add(self, labels: Labels, tally: T) -> None:
        with self._lock:
            self._series_of(labels).append(tally)

    def _series_of(self, labels: Labels) -> list[T]:
        found = self._series.get(labels)
        if found is None:
            found = self._series[labels] = []
            self._created[labels] = time.time()
        return found

    def _snapshot(self) -> dict[Labels, tuple[float, list[T]]]:
        with self._lock:
            return {labels: (self._created[labels], list(found)) for labels, found in self._series.items()}

    def _empty(self) -> Metric:
        """The family with no series yet, of the family's type."""
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        """The family's name, for the registry (filtered scrapes, one name registered once)."""
        yield self._empty()


class CounterFamily(_Family[Count]):
    """A counter whose series are summed over per-thread Counts."""

    def counter(self, labels: Labels) -> Count:
        """A new Count of series `labels`, for one thread to write."""
        count = Count()
        self._add(labels, count)
        return count

    def _empty(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._empty()
        for labels, (created, found) in self._snapshot().items():
            family.add_metric(list(labels), sum(count.value for count in found), created=created)
        yield family


class HistogramFamily(_Family[Bins]):
    """A histogram whose series are summed over per-thread Bins."""

    def __init__(self, name: str, documentation: str, labelnames: Labels, bounds: tuple[float, ...]) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = bounds

    def bins(self, labels: Labels) -> Bins:
        """New Bins of series `labels`, for one thread to write."""
        bins = Bins(self.bounds)
        self._add(labels, bins)
        return bins

    def _empty(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = self._empty()
        names = (*map(floatToGoString, self.bounds), "+Inf")
        for labels, (created, bins) in self._snapshot().items():
            counts = [sum(b.counts[i] for b in bins) for i in range(len(names))]
            cumulative, buckets = 0, []
            for bound, count in zip(names, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(list(labels), buckets, sum(b.total for b in bins))
            # the series' creation time, as prometheus_client's own histograms show it (add_metric takes none)
            family.samples.append(
                Sample(f"{self._name}_created", dict(zip(self._labelnames, labels, strict=True)), created)
            )
        yield family
