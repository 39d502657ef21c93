"""make bench-growth's verdict: the rules docs/performance.md states, on made-up results."""
from bench import growth


def _results(s_ms, l_ms, name="admin dashboard", l_bytes=1000):
    ops = lambda ms, size=1000: {name: {"median_ms": ms, "p95_ms": ms, "bytes": size}}  # noqa: E731
    return {"sizes": {"S": {"ops": ops(s_ms)}, "M": {"ops": ops(s_ms)}, "L": {"ops": ops(l_ms, l_bytes)}}}


def test_an_operation_fails_over_three_times_its_small_time_or_over_its_limit():
    assert growth.verdicts(_results(20, 65)) == []  # 3x + the 5 ms slack
    assert growth.verdicts(_results(20, 66)) == ["admin dashboard: 66 ms at L, over 3x its 20 ms at S"]
    assert growth.verdicts(_results(150, 201)) == ["admin dashboard: 201 ms at L, over 200 ms"]
    cancel = "cancel a match with 3,000 sold tickets"
    assert growth.verdicts(_results(400, 999, cancel)) == []  # 1 s for the cancellation
    assert growth.verdicts(_results(400, 1001, cancel)) == [f"{cancel}: 1001 ms at L, over 1000 ms"]


def test_the_seat_map_page_is_judged_by_its_weight():
    page = "admin seat map page (10,000 seats)"
    assert growth.verdicts(_results(100, 900, page, 199_000)) == []
    assert growth.verdicts(_results(100, 90, page, 201_000)) == [f"{page}: 201000 bytes at L, over 200000"]
