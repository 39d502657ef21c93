"""The caller's role rides with traversal's first statement (security.CALLER_ACCOUNT_COLUMN):
buying requests make no separate role read, and the account is still checked on each one."""
import pytest
from sqlalchemy import text

from ticketing import security

from .catalogue_helpers import published_match


@pytest.fixture
def role_reads(monkeypatch):
    """Every separate role read the security policy makes."""
    reads = []
    real = security.account_state

    def counting(dbsession, user_id):
        reads.append(user_id)
        return real(dbsession, user_id)

    monkeypatch.setattr(security, "account_state", counting)
    return reads


def test_a_purchase_reads_the_role_only_along_with_the_match_and_the_hold(staff, customer, role_reads):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 100000}, status=201)
    role_reads.clear()
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    customer.get(f"/api/v1/holds/{hold['id']}", status=200)
    customer.post(f"/api/v1/holds/{hold['id']}/checkout", {}, status=201)
    assert role_reads == []
    customer.get("/api/v1/me", status=200)  # elsewhere the policy reads it itself
    assert role_reads == [customer.user["id"]]


@pytest.mark.parametrize("change", ["UPDATE users SET is_active = false WHERE id = :id",
                                    "UPDATE users SET role = 'staff' WHERE id = :id"])
def test_a_changed_account_is_refused_on_the_buying_paths_at_once(staff, customer, engine, change):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 100000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    with engine.begin() as conn:
        conn.execute(text(change), {"id": customer.user["id"]})
    customer.get(f"/api/v1/holds/{hold['id']}", status=401)
    customer.post(f"/api/v1/holds/{hold['id']}/checkout", {}, status=401)
    customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 1}, status=401)
    customer.get("/api/v1/holds/999999999", status=401)  # unknown ids: 401 too, nothing learnt


def test_someone_elses_hold_is_not_found_and_a_match_is_visible_to_anonymous_callers(staff, customer, user_factory,
                                                                                     anonymous, role_reads):
    match, *_ = published_match(staff)
    customer.post("/api/v1/wallet/top-ups", {"amount": 100000}, status=201)
    hold = customer.post(f"/api/v1/matches/{match['id']}/holds", {"quantity": 2}, status=201).json
    other = user_factory()
    other.get(f"/api/v1/holds/{hold['id']}", status=404)
    staff.get(f"/api/v1/holds/{hold['id']}", status=200)  # staff may look, with their own role
    anonymous.get(f"/api/v1/holds/{hold['id']}", status=401)
    anonymous.get(f"/api/v1/matches/{match['id']}", status=200)
    anonymous.get("/api/v1/matches/999999999", status=404)
    customer.get("/api/v1/matches/999999999", status=404)


def test_a_role_read_for_one_user_is_not_taken_for_another(testapp, customer):
    """The policy takes a role read along only for the user the credentials claim."""
    from pyramid.request import Request

    request = Request.blank("/api/v1/me", headers={"Authorization": f"Bearer {customer.token}"})
    request.registry = testapp.app.registry
    policy = request.registry["security_policy"]
    reads = []
    security.role_read_along(request, customer.user["id"] + 1, "admin:0")  # someone else's
    security.role_read_along(request, None, None)  # anonymous: nothing handed over
    original, security.account_state = security.account_state, lambda dbsession, user_id: reads.append(user_id) or "customer:0"
    try:
        request.dbsession = None
        identity = policy.load_identity(request)
    finally:
        security.account_state = original
    assert reads == [customer.user["id"]] and identity.role == "customer"
