"""The ticketing WSGI application: the federation's online box office.

``main`` only reads settings, includes each package's configuration and scans the views;
every package says in its own ``includeme`` what it adds.
"""
from pyramid.config import Configurator
from pyramid.security import NO_PERMISSION_REQUIRED

from ticketing.services import mail
from ticketing.services.ticket_codes import load_signer
from ticketing.settings import normalize_settings
from ticketing.startup import explain_port_clash, freeze_startup_heap


#: Views without an explicit permission are denied: a new route cannot be public by accident.
DENY_BY_DEFAULT = "__explicit_permission_required__"


#: The tween chain, outermost first, stated explicitly because two libraries both ask to be
#: "over the exception view" and their implicit order is an accident of include order:
#: - the request id/access log sees everything, even a failed commit;
#: - the metrics count and time every request by route name (ticketing/metrics.py);
#: - input no database could store (NUL, lone surrogates, huge bodies) is refused early;
#: - pyramid_tm wraps pyramid_openapi3's response validation, so a response that breaks the
#:   contract aborts the transaction instead of committing it (tests/unit/test_settings_and_tweens).
TWEENS = (
    "ticketing.request_log.request_id_tween_factory",
    "ticketing.metrics.metrics_tween_factory",
    "ticketing.security_headers.security_headers_tween_factory",
    "ticketing.input_guard.input_guard_tween_factory",
    "pyramid_tm.tm_tween_factory",
    "pyramid_openapi3.tween.response_tween_factory",
    "pyramid.tweens.excview_tween_factory",
)


def main(global_config, **settings):
    """Return the Pyramid WSGI application (``paste.app_factory``)."""
    if "http_port" in global_config:  # served by pserve (``pserve <ini> http_port=...``)
        explain_port_clash(global_config["http_port"])
    settings = normalize_settings(settings)
    settings["pyramid.tweens"] = "\n".join(TWEENS)
    mail.configure(settings)  # the shop's address for links in mail
    with Configurator(settings=settings) as config:
        config.set_root_factory("ticketing.resources.root_factory")
        config.set_default_permission(DENY_BY_DEFAULT)
        config.include("pyramid_jinja2")
        config.include(".renderers")
        config.include(".models")
        config.include(".openapi")
        config.include(".request_log")
        config.include(".security")
        config.include(".load_shedding")
        config.include(".metrics")
        config.include(".routes")
        # Ed25519 key for ticket codes; production refuses to start without one.
        config.registry["ticket_signer"] = load_signer(settings)
        config.add_static_view(
            "static/swagger-ui", "swagger_ui_bundle:vendor/swagger-ui-4.15.5", cache_max_age=86400,
            permission=NO_PERMISSION_REQUIRED,
        )
        config.add_static_view(
            "static/app", "ticketing:static", cache_max_age=3600, permission=NO_PERMISSION_REQUIRED
        )
        config.scan(".views")
        app = config.make_wsgi_app()
    freeze_startup_heap(settings)
    return app
