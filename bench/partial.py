"""A partial re-run (``python -m bench.rush --only GROUPS``) merged into the last full run.

Its own module, free of the load generator's dependencies, so that the test suite can check
it without the ``bench`` extra installed (as ``ratios`` and ``report``).
"""


def merged(previous, results, only):
    """The previous full run with the scenarios of the groups just run replaced."""
    fresh = results["scenarios"]
    previous = dict(previous)
    scenarios = dict(previous.get("scenarios", {}))
    scenarios.update(fresh)
    previous["scenarios"] = scenarios
    previous.setdefault("partial_reruns", []).append(
        {"groups": sorted(only), "generated_at": results["generated_at"], "scenarios": sorted(fresh),
         "command": f"python -m bench.rush --only {','.join(sorted(only))}",
         "total_seconds": results["total_seconds"],
         **({"skipped": results["skipped"]} if "skipped" in results else {})})
    return previous


def measured_at(results):
    """When each scenario of ``results`` was measured: its full run's time, or the time of the
    last partial re-run that replaced it. Ratios between scenarios are only taken within one
    run (bench/ratios.py), because this machine's speed drifts between runs."""
    when = dict.fromkeys(results.get("scenarios", {}), results.get("generated_at"))
    for rerun in results.get("partial_reruns", []):
        when.update(dict.fromkeys(rerun["scenarios"], rerun["generated_at"]))
    return when
