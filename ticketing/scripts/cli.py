"""The ``ticketing`` command: ops tasks run against a deployment's ini file.

    ticketing development.ini create-user EMAIL --role admin --password-stdin
    ticketing development.ini demo-admin
    ticketing development.ini demo-data
    ticketing development.ini sweep-holds

Each command runs inside one transaction of the app's own transaction manager, so a failure
leaves nothing half-written.
"""
import argparse
import getpass
import secrets
import sys
from pathlib import Path

from pyramid.paster import bootstrap, setup_logging

from ticketing.problems import Problem
from ticketing.services import accounts

DEMO_ADMIN_EMAIL = "admin@example.com"

COMMANDS = {}


def command(name, help_text):
    def register(func):
        COMMANDS[name] = (func, help_text)
        return func

    return register


def _configure_create_user(parser):
    parser.add_argument("email")
    parser.add_argument("--role", choices=["customer", "staff", "admin"], default="customer")
    parser.add_argument("--full-name", default=None)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


@command("create-user", "create an account (any role)")
def create_user(env, args):
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    request = env["request"]
    settings = env["registry"].settings
    with request.tm:
        user = accounts.signup(
            request.dbsession,
            args.email,
            password,
            args.full_name or args.email.split("@")[0],
            bcrypt_rounds=settings["auth.bcrypt_rounds"],
            role=args.role,
        )
        print(f"created user {user.id} <{user.email}> with role {user.role}")


@command("demo-admin", "create the demo admin account if missing and print its credentials")
def demo_admin(env, args):
    request = env["request"]
    settings = env["registry"].settings
    secret_file = Path(settings.get("ticketing.embedded_pgdata") or "var/pgdata").parent / "demo-admin-password"
    with request.tm:
        if accounts.find_by_email(request.dbsession, DEMO_ADMIN_EMAIL) is None:
            password = secrets.token_urlsafe(12)
            accounts.signup(
                request.dbsession, DEMO_ADMIN_EMAIL, password, "Demo Admin",
                bcrypt_rounds=settings["auth.bcrypt_rounds"], role="admin",
            )
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(password + "\n")
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip() if secret_file.exists() else "(set when it was created)"
    print("=" * 64)
    print(f"  Demo admin:  {DEMO_ADMIN_EMAIL}")
    print(f"  Password:    {password}")
    print("  Admin:       http://127.0.0.1:6543/admin/")
    print("  API docs:    http://127.0.0.1:6543/api/v1/docs")
    print("=" * 64)


def _load_optional_commands():
    # Commands that belong to later features register themselves on import.
    for module in ("ticketing.scripts.demo_data", "ticketing.scripts.holds"):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def build_parser():
    _load_optional_commands()
    parser = argparse.ArgumentParser(prog="ticketing", description=__doc__.split("\n\n")[0])
    parser.add_argument("config_uri", help="the ini file, e.g. development.ini")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text) in sorted(COMMANDS.items()):
        command_parser = sub.add_parser(name, help=help_text)
        configure = globals().get("_configure_" + name.replace("-", "_")) or getattr(func, "configure", None)
        if configure:
            configure(command_parser)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.config_uri)
    env = bootstrap(args.config_uri)
    try:
        COMMANDS[args.command][0](env, args)
    except Problem as problem:
        details = "; ".join(f"{e['field']}: {e['message']}" for e in problem.errors)
        print(f"error: {problem.detail} {details}".strip(), file=sys.stderr)
        return 1
    finally:
        env["closer"]()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
