"""Ticket codes, QR images and gate check-in."""
import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ticketing.services.ticket_codes import PREFIX, TicketSigner, verify

from .catalogue_helpers import published_match
from .test_auth import assert_problem
from ..concurrency.conftest import race


def _buy(staff, fan, quantity=2, **match_extra):
    match, *_ = published_match(staff, prices=(3000,), **match_extra)
    fan.post("/api/v1/wallet/top-ups", {"amount": 50_000}, status=201)
    hold = fan.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": quantity}, status=201).json
    order = fan.post(f"/api/v1/holds/{hold['id']}/checkout", status=201).json
    return match, order


def test_ticket_code_qr_and_check_in_once(staff, customer, anonymous):
    match, order = _buy(staff, customer)
    ticket = customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json
    assert ticket["code"].startswith(PREFIX) and len(ticket["code"]) < 140
    key = anonymous.get("/api/v1/tickets/public-key").json
    assert key["algorithm"] == "Ed25519"
    # An offline gate device verifies with the public key alone.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    claims = verify(public, ticket["code"])
    assert (claims.ticket_id, claims.match_id) == (ticket["id"], match["id"])

    qr = customer.get(f"/api/v1/tickets/{ticket['id']}/qr.svg")
    assert qr.content_type == "image/svg+xml" and b"<svg" in qr.body

    admitted = staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": ticket["code"]}, status=200).json
    assert admitted["result"] == "admitted" and admitted["row"] == ticket["seat"]["row"]
    assert admitted["holder_name"] == customer.user["full_name"]
    again = assert_problem(staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": ticket["code"]}, status=409), 409)
    assert again["checked_in_at"].startswith(admitted["checked_in_at"][:19])
    assert again["checked_in_by"] == staff.user["email"]
    report = staff.get(f"/api/v1/matches/{match['id']}/report").json
    assert report["check_in"] == {"admitted": 1, "sold": 2}


def test_forged_malformed_foreign_and_voided_codes_are_rejected(staff, customer, user_factory):
    match, order = _buy(staff, customer)
    other_match, other_order = _buy(staff, user_factory(), name="Other Arena")
    code = customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json["code"]
    url = f"/api/v1/matches/{match['id']}/check-ins"
    raw = base64.urlsafe_b64decode(code[3:] + "==")
    tampered_payload = PREFIX + base64.urlsafe_b64encode(raw[:5] + bytes([raw[5] ^ 1]) + raw[6:]).rstrip(b"=").decode()
    wrong_key = TicketSigner(Ed25519PrivateKey.generate()).sign(
        order["tickets"][0]["id"], match["id"], order["tickets"][0]["seat"]["id"], 1)
    for bad in [tampered_payload, wrong_key, code[:-10], "T1.!!!!", "hello", PREFIX]:
        body = assert_problem(staff.post(url, {"code": bad}, status=422), 422, "code")
        assert "forged" in body["errors"][0]["message"]
    foreign = user_factory  # noqa: F841 - readability
    other_code = staff.get(f"/api/v1/tickets/{other_order['tickets'][0]['id']}").json["code"]
    body = assert_problem(staff.post(url, {"code": other_code}, status=422), 422, "code")
    assert "another match" in body["errors"][0]["message"]

    # A voided ticket keeps a valid signature, but the gate refuses it.
    staff.post(f"/api/v1/orders/{order['id']}/cancel", status=200)
    body = assert_problem(staff.post(url, {"code": code}, status=422), 422, "code")
    assert "voided" in body["errors"][0]["message"]
    assert customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json["code"] is None


def test_only_staff_check_in_and_tickets_are_private(staff, customer, user_factory):
    match, order = _buy(staff, customer)
    ticket_id = order["tickets"][0]["id"]
    code = customer.get(f"/api/v1/tickets/{ticket_id}").json["code"]
    assert_problem(customer.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": code}, status=403), 403)
    other = user_factory()
    assert_problem(other.get(f"/api/v1/tickets/{ticket_id}", status=404), 404)
    assert_problem(other.get(f"/api/v1/tickets/{ticket_id}/qr.svg", status=404), 404)
    staff.get(f"/api/v1/tickets/{ticket_id}", status=200)


def test_twenty_gates_scanning_one_code_admit_it_once(staff, customer):
    match, order = _buy(staff, customer, quantity=1)
    code = customer.get(f"/api/v1/tickets/{order['tickets'][0]['id']}").json["code"]
    results = race([
        lambda: staff.post(f"/api/v1/matches/{match['id']}/check-ins", {"code": code}, expect_errors=True)
    ] * 20, workers=20)
    statuses = sorted(r.status_int for r in results)
    assert statuses == [200] + [409] * 19
