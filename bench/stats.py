"""Latency percentiles and status counts per request type (no dependencies: unit-tested)."""
from collections import Counter, defaultdict


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[index]


def _percentiles(values):
    return {f"p{round(q * 100)}_ms": round(percentile(values, q) * 1000, 2) for q in (0.5, 0.95, 0.99)} | {
        "max_ms": round(values[-1] * 1000, 2)}


class Recorder:
    """Latencies and status counts per request type."""

    def __init__(self):
        self.latencies = defaultdict(list)
        self.by_status = defaultdict(lambda: defaultdict(list))
        self.statuses = defaultdict(Counter)

    def add(self, kind, status, seconds):
        self.latencies[kind].append(seconds)
        self.by_status[kind][str(status)].append(seconds)
        self.statuses[kind][str(status)] += 1

    def summary(self, wall_seconds):
        result = {}
        for kind in sorted(self.latencies):
            values = sorted(self.latencies[kind])
            result[kind] = {
                "requests": len(values),
                "rate_per_s": round(len(values) / wall_seconds, 1) if wall_seconds else None,
                "p50_ms": round(percentile(values, 0.50) * 1000, 2),
                "p95_ms": round(percentile(values, 0.95) * 1000, 2),
                "p99_ms": round(percentile(values, 0.99) * 1000, 2),
                "max_ms": round(values[-1] * 1000, 2),
                "mean_ms": round(sum(values) / len(values) * 1000, 2),
                "statuses": dict(sorted(self.statuses[kind].items())),
                # Per status: under overload a fast refusal and a slow success are different stories.
                "latency_by_status": {
                    status: _percentiles(sorted(found)) for status, found in sorted(self.by_status[kind].items())
                },
            }
        return result

    def count(self, status_prefix):
        return sum(n for statuses in self.statuses.values() for s, n in statuses.items() if s.startswith(status_prefix))
