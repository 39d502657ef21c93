"""The process's claims in flight (decision 0034): what a buyer's plan should go around."""
from ticketing.services.claims_in_flight import ClaimsInFlight


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_seats_another_fans_request_is_claiming_are_busy_but_not_for_the_claimer():
    registry = ClaimsInFlight(clock=Clock())
    first, second = registry.claimer(1), registry.claimer(2)
    first.take(1, [10, 11])
    assert second.busy(1, [11, 12]) and not second.busy(1, [12, 13])
    assert not first.busy(1, [10, 11])  # its own marks never turn a request away
    assert not second.busy(2, [10, 11])  # another match's seat 10 is another seat


def test_the_same_fans_earlier_request_never_counts():
    """The fan's wallet lock serialises their holds: a second hold plans after the first has
    ended (maybe before its marks were released) and replaces it, freeing those very seats."""
    clock = Clock()
    registry = ClaimsInFlight(clock=clock)
    earlier, again, stranger = registry.claimer(1), registry.claimer(1), registry.claimer(2)
    earlier.take(1, [10, 11])
    again.planning()
    stranger.planning()
    clock.now += 0.01
    earlier.finish()
    assert not again.busy(1, [10, 11]) and stranger.busy(1, [10, 11])


def test_a_short_claim_drops_its_marks_at_once():
    registry = ClaimsInFlight(clock=Clock())
    first, second = registry.claimer(1), registry.claimer(2)
    first.take(1, [10, 11])
    first.drop(1, [10, 11])
    assert not second.busy(1, [10, 11]) and registry.marked() == 0


def test_a_live_mark_is_neither_taken_over_nor_dropped_by_another_request():
    registry = ClaimsInFlight(clock=Clock())
    claiming, late, onlooker = registry.claimer(1), registry.claimer(2), registry.claimer(3)
    claiming.take(1, [1, 2])
    late.take(1, [2, 3])  # checked before the first mark went in; its claim will come back short
    late.drop(1, [2, 3])
    assert onlooker.busy(1, [2])  # seat 2 is still being claimed by the first request
    assert not onlooker.busy(1, [3])
    claiming.finish()
    fresh = registry.claimer(3)
    fresh.planning()
    assert not fresh.busy(1, [1, 2])  # and its release still reaches both of its seats


def test_a_released_claim_still_counts_for_plans_read_before_the_release():
    clock = Clock()
    registry = ClaimsInFlight(clock=clock)
    first, before, after = registry.claimer(1), registry.claimer(2), registry.claimer(3)
    first.take(1, [10, 11])
    before.planning()  # its snapshot may predate the commit: the seats look available in it
    clock.now += 0.01
    first.finish()
    clock.now += 0.01
    after.planning()  # read after the commit: the plan itself leaves the seats out
    assert before.busy(1, [10]) and not after.busy(1, [10])


def test_released_marks_are_forgotten_after_a_while():
    clock = Clock()
    registry = ClaimsInFlight(clock=clock, keep_seconds=5)
    first = registry.claimer(1)
    first.take(1, [10, 11])
    first.finish()
    assert registry.marked() == 2
    clock.now += 6
    registry.claimer(2).finish()  # purging rides on releases; this one releases nothing
    assert registry.marked() == 2
    other = registry.claimer(3)
    other.take(1, [50])
    other.finish()
    assert registry.marked() == 1  # only the fresh mark of seat 50 is left


def test_a_seat_taken_again_is_not_forgotten_with_its_old_release():
    clock = Clock()
    registry = ClaimsInFlight(clock=clock, keep_seconds=5)
    first, second, third = registry.claimer(1), registry.claimer(2), registry.claimer(3)
    first.take(1, [10])
    first.finish()
    second.take(1, [10])  # the seat came back (the hold lapsed) and is being claimed again
    clock.now += 6
    third.take(1, [99])
    third.finish()  # purges the first release: it must not take the second claim with it
    assert third.busy(1, [10])


def test_finish_twice_and_an_empty_claimer_are_harmless():
    registry = ClaimsInFlight(clock=Clock())
    claimer = registry.claimer(1)
    claimer.finish()
    claimer.take(1, [1])
    claimer.finish()
    claimer.finish()
    assert registry.marked() == 1
