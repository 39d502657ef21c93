"""Logout racing a refresh of the same token: after both, nothing of that family works."""
from .conftest import race


def test_logout_racing_refresh_leaves_no_live_token(anonymous, user_factory):
    for _ in range(5):
        fan = user_factory()
        token = fan.user["refresh_token"]
        refreshed, logged_out = race([
            lambda: anonymous.post("/api/v1/auth/refresh", {"refresh_token": token}, expect_errors=True),
            lambda: anonymous.post("/api/v1/auth/logout", {"refresh_token": token}, expect_errors=True),
        ], workers=2)
        assert logged_out.status_int == 204
        if refreshed.status_int == 200:
            survivor = refreshed.json["refresh_token"]
            anonymous.post("/api/v1/auth/refresh", {"refresh_token": survivor}, status=401)
        else:
            assert refreshed.status_int == 401
