"""One request class for the whole app, built once at start-up.

Pyramid gives every request the properties registered with
``config.add_request_method(..., reify=True)``: our ``dbsession``, pyramid_tm's ``tm`` and
pyramid_openapi3's ``openapi_validated``. It does so by creating a new subclass of the
request class for each request (``InstancePropertyHelper.apply_properties``). That costs
~25 µs per request measured in isolation. Each such class is also cyclic garbage, which the
collector must find, and a new type for CPython's attribute caches. On the buying path it
was ~3 % of the app's CPU in a py-spy profile of a sell-out.

``freeze_request_extensions`` puts those descriptors on one subclass of the configured
request factory. It registers that subclass as the request factory and removes the
descriptors from the per-request extensions. Every request still gets the same properties
through the same descriptors, and ``reify`` still caches per request instance, because it
stores the value in the instance's ``__dict__``. Pyramid is left with only plain request
methods to apply, if any, and creates no class.
"""
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.request import Request


def freeze_request_extensions(registry):
    """Call once every ``add_request_method`` is committed, before ``make_wsgi_app``
    (the router reads the request factory when it is created)."""
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is None or not extensions.descriptors:
        return None
    base = registry.queryUtility(IRequestFactory, default=Request)
    attrs = {"__module__": base.__module__, "__doc__": base.__doc__, **extensions.descriptors}
    request_class = type(base.__name__, (base,), attrs)
    registry.registerUtility(request_class, IRequestFactory)
    extensions.descriptors = {}
    return request_class
