"""A paid order made through the API as a fan's app makes it: top up, hold, check out.

Many tests need an order to work on (gate scans, refunds, receipts, admin pages); they share
this one way of buying instead of each writing it again."""


def buy(fan, match_id, quantity=2, top_up=50_000, **hold):
    """``fan`` (an ApiClient) tops up ``top_up`` minor units (none when 0), holds ``quantity``
    best-available seats (``hold``: more of the hold's body, e.g. ``adjacent=True``) and pays
    for them; returns the order as the checkout answered it."""
    if top_up:
        fan.post("/api/v1/wallet/top-ups", {"amount": top_up}, status=201)
    hold = fan.post(f"/api/v1/matches/{match_id}/holds", {"quantity": quantity, **hold}, status=201).json
    return fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
