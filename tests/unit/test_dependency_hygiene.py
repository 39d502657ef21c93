"""The code stays on other packages' public APIs, and setup.py declares what it imports.

A private name (a leading underscore) of another package is that package's to change in any
release: code that imports or calls one can break on a security release, and only its
authors know it is there. So:
- no module under ``ticketing/`` imports a private name of another package, or reaches for
  an attribute ``._name`` that ticketing itself does not define;
- a workaround that cannot avoid it lives in one module, listed in ``WORKAROUND_MODULES``
  with its upstream issue in ``docs/upstream/`` (none today);
- ``setup.py`` declares every distribution the code imports directly, and any cap below a
  dependency's next major version carries a comment saying why.
"""
import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ticketing"

#: Modules allowed a private name of another package, each with its docs/upstream/ note.
WORKAROUND_MODULES = {}


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _own_private_names():
    """Every underscore name ticketing defines: its functions, classes, attributes, variables."""
    names = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {name for name in names if _is_private(name)}


def private_uses(path, own):
    """(line, what) for each private name of another package that ``path`` imports or uses."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("ticketing") and any(map(_is_private, alias.name.split("."))):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and not node.module.startswith("ticketing"):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            if any(map(_is_private, parts)):
                found.append((node.lineno, f"from {node.module} import {', '.join(a.name for a in node.names)}"))
        elif isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in own:
            found.append((node.lineno, f"._{node.attr.lstrip('_')}"))
    return found


def test_no_private_name_of_another_package_is_imported_or_used():
    own = _own_private_names()
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in _modules()
        if str(path.relative_to(ROOT)) not in WORKAROUND_MODULES and (uses := private_uses(path, own))
    }
    assert offenders == {}


def test_the_check_catches_what_it_is_for(tmp_path):
    """The control: the kinds of use this project once had are all found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from transaction._transaction import Status\n"
        "import waitress._private\n"
        "def run(connection, error):\n"
        "    connection._handle_dbapi_exception(error, None, None, None, None)\n"
        "    return connection._dispatcher\n"
    )
    assert sorted(private_uses(sample, own={"_mine"})) == [
        (1, "from transaction._transaction import Status"), (2, "import waitress._private"),
        (4, "._handle_dbapi_exception"), (5, "._dispatcher"),
    ]


def test_every_workaround_module_has_its_upstream_note():
    for module, note in WORKAROUND_MODULES.items():
        assert (ROOT / module).exists() and (ROOT / "docs" / "upstream" / note).exists(), module


# --- setup.py --------------------------------------------------------------------------------

def _requirements():
    """(line number, requirement string, comment lines right above it or on its line)."""
    lines = (ROOT / "setup.py").read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        match = re.match(r'\s*"([A-Za-z0-9_.\-\[\]]+[<>=!~][^"]*)",\s*(#.*)?$', line)
        if not match:
            continue
        comments = [match.group(2)] if match.group(2) else []
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            comments.insert(0, lines[above].strip())
            above -= 1
        found.append((number + 1, match.group(1), comments))
    return found


def _name(requirement):
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0]


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def caps_below_next_major(requirements):
    """The requirements capped below the next major version of what is installed, that no
    comment explains: ``<2.2`` on 2.1, ``<0.23`` on 0.22 (0.x: the next major is 1.0)."""
    unexplained = []
    for number, requirement, comments in requirements:
        for cap in re.findall(r"<\s*([0-9][0-9.]*)", requirement):
            installed = _version_tuple(importlib.metadata.version(_name(requirement)))
            next_major = (installed[0] + 1,)
            if _version_tuple(cap) < next_major and not comments:
                unexplained.append(f"setup.py:{number}: {requirement}")
    return unexplained


def test_no_dependency_is_capped_below_its_next_major_version_without_a_reason():
    assert caps_below_next_major(_requirements()) == []


def test_the_cap_check_catches_an_unexplained_minor_cap():
    assert caps_below_next_major([(3, "sqlalchemy>=2.0,<2.2", [])]) == ["setup.py:3: sqlalchemy>=2.0,<2.2"]
    assert caps_below_next_major([(3, "sqlalchemy>=2.0,<2.2", ["# why"])]) == []
    assert caps_below_next_major([(3, "sqlalchemy>=2.0,<3", [])]) == []


def _imported_top_level_modules():
    modules = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module)
    return {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("ticketing")}


def test_every_imported_distribution_is_declared():
    declared = {_canonical(_name(requirement)) for _, requirement, _ in _requirements()}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in _imported_top_level_modules():
        top = module.split(".")[0]
        candidates = {_canonical(d) for d in providers.get(top, [])}
        # A namespace package (zope.*) is provided by several: the one named like the module.
        dotted = [c for c in candidates if module.replace(".", "-").lower().startswith(c)]
        if not (set(dotted or candidates) & declared):
            undeclared[module] = sorted(candidates)
    assert undeclared == {}
