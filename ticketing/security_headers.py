"""Security headers on every response.

The Content-Security-Policy allows scripts only from this origin (no inline scripts, no
eval, no CDN), forbids framing (clickjacking on the admin and the gate page) and plugins.
Inline *styles* stay allowed: Swagger UI and server-drawn SVG seat maps use style attributes,
and a style cannot run code. HSTS is sent only in production, where TLS is guaranteed.
"""
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(production):
    """The headers every response carries, as (name, value) pairs."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if production:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def security_headers_tween_factory(handler, registry):
    defaults = security_headers(registry.settings.get("ticketing.production", False))

    def security_headers_tween(request):
        response = handler(request)
        headers = response.headers
        for name, value in defaults:
            headers.setdefault(name, value)
        return response

    return security_headers_tween
