"""Requests share one class that carries the reified request properties (request_class.py)."""
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request


def _request(registry, router):
    context = router.request_context({"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/matches",
                                      "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                                      "wsgi.url_scheme": "http"})
    return context, context.begin()


def test_every_request_is_made_from_one_class_with_the_properties(wsgi_app):
    registry = wsgi_app.registry
    router = wsgi_app.app  # behind the seat-map fast path
    request_class = registry.queryUtility(IRequestFactory)
    assert issubclass(request_class, Request) and request_class is not Request
    assert not registry.queryUtility(IRequestExtensions).descriptors  # nothing left per request
    for name in ("dbsession", "tm", "openapi_validated"):
        assert name in vars(request_class)

    first_context, first = _request(registry, router)
    try:
        first_session = first.dbsession
        assert first.dbsession is first_session  # still reified per request
    finally:
        first_context.end()
    second_context, second = _request(registry, router)
    try:
        assert type(first) is type(second) is request_class
        assert second.dbsession is not first_session  # a session of its own
        assert second.tm is not first.tm
    finally:
        second_context.end()
    first_session.close()
    second.dbsession.close()
