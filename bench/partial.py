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
