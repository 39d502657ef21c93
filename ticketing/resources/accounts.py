"""Resources for the account endpoints: the auth service and the caller's own profile."""
from . import ADMIN, Allow, Authenticated, Everyone, Resource


class AuthService(Resource):
    """Signup, login, refresh and logout are open to anyone (they carry their own proof)."""

    __acl__ = [(Allow, Everyone, "auth:use")]


class Me(Resource):
    """The caller's own account: see it, and manage it (verification mail, export, deletion)."""

    __acl__ = [(Allow, Authenticated, "me:view"), (Allow, ADMIN, "me:view"), (Allow, Authenticated, "me:manage")]


def auth_factory(request):
    return AuthService(request, "auth")


def me_factory(request):
    return Me(request, "me")
