"""The traversal tree. Every permission in the application is granted by an ``__acl__`` here.

Routes (``ticketing/routes.py``) name a container as their ``factory`` and use ``traverse``
to reach the context object; a missing id raises ``KeyError`` and becomes a 404. Views only
say which permission they need (``area:verb``); who holds it is written once, in these ACLs.
"""
from pyramid.authorization import ALL_PERMISSIONS, Allow, Authenticated, Everyone  # noqa: F401

STAFF = "role:staff"
ADMIN = "role:admin"
CUSTOMER = "role:customer"


class Resource:
    """A node of the tree with ``__name__``/``__parent__`` so ``resource_url`` works."""

    __name__ = ""
    __parent__ = None

    def __init__(self, request, name="", parent=None):
        self.request = request
        self.__name__ = name
        self.__parent__ = parent


class Root(Resource):
    """The default context: public pages (health, docs) and the base for everything else."""

    __acl__ = [(Allow, Everyone, "public"), (Allow, ADMIN, ALL_PERMISSIONS)]


def root_factory(request):
    return Root(request)


def is_decimal(text):
    """ASCII digits only: ``"²".isdigit()`` is true, yet ``int("²")`` raises."""
    return text.isascii() and text.isdecimal()


def parse_id(key):
    """Traversal keys are integer ids; anything else is simply not found."""
    if not is_decimal(key) or len(key) > 18:
        raise KeyError(key)
    return int(key)
