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


def _own_private_names(tree):
    """Every underscore name a module defines: its functions, classes, attributes, variables."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if _is_private(name)}


def private_uses(path):
    """(line, what) for each private name of another package that ``path`` imports or uses:
    an import of one, ``obj._name`` or ``getattr(obj, "_name")`` for a name the module does
    not define itself (``self._x`` and ``cls._x`` are the object's own)."""
    tree = ast.parse(path.read_text())
    own = _own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("ticketing") and any(map(_is_private, alias.name.split("."))):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and not node.module.startswith("ticketing"):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            if any(map(_is_private, parts)):
                found.append((node.lineno, f"from {node.module} import {', '.join(a.name for a in node.names)}"))
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if node.attr not in own and not mine:
                found.append((node.lineno, f"._{node.attr.lstrip('_')}"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _is_private(node.args[1].value) and node.args[1].value not in own):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
    return found


def test_no_private_name_of_another_package_is_imported_or_used():
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in _modules()
        if str(path.relative_to(ROOT)) not in WORKAROUND_MODULES and (uses := private_uses(path))
    }
    assert offenders == {}


def test_the_check_catches_what_it_is_for(tmp_path):
    """The control: the kinds of use this project once had are all found; a module's own
    underscore names are not."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from transaction._transaction import Status\n"
        "import waitress._private\n"
        "def run(connection, error):\n"
        "    connection._handle_dbapi_exception(error, None, None, None, None)\n"
        "    return connection._dispatcher\n"
        "def peek(request):\n"
        "    return getattr(request, '_cache', None)\n"
        "class Mine:\n"
        "    def __init__(self):\n"
        "        self._checked = 1\n"
        "    def other(self, thing):\n"
        "        return self._checked, thing._checked\n"
    )
    assert sorted(private_uses(sample)) == [
        (1, "from transaction._transaction import Status"), (2, "import waitress._private"),
        (4, "._handle_dbapi_exception"), (5, "._dispatcher"), (7, "getattr(..., '_cache')"),
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


def _compatible_release_cap(version):
    parts = [int(part) for part in version.split(".")]
    if len(parts) < 2:
        return version
    return ".".join(map(str, [*parts[:-2], parts[-2] + 1]))


def caps_below_next_major(requirements):
    """The requirements capped below the next major version of what is installed, that no
    comment explains: ``<2.2`` on 2.1, ``<0.23`` on 0.22 (0.x: the next major is 1.0)."""
    unexplained = []
    for number, requirement, comments in requirements:
        # An upper bound in any form: < and <= a version, == a pinned one, ~= (compatible
        # release: below the next step of its second-to-last part).
        caps = re.findall(r"(?:<=?|==)\s*([0-9][0-9.]*)", requirement)
        caps += [_compatible_release_cap(v) for v in re.findall(r"~=\s*([0-9][0-9.]*)", requirement)]
        for cap in caps:
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
    for pinned in ("waitress<=3.0.2", "waitress==3.0.2", "waitress~=3.0.2"):
        assert caps_below_next_major([(3, pinned, [])]) == [f"setup.py:3: {pinned}"]
    assert caps_below_next_major([(3, "waitress~=3.0", [])]) == []  # <4


def _imported_top_level_modules():
    modules = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module)
    return {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("ticketing")}


def _install_requires():
    """The names in setup.py's ``requires`` list (what a production install gets)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "requires" for t in node.targets):
            return {_canonical(_name(element.value)) for element in node.value.elts}
    raise AssertionError("setup.py has no `requires = [...]`")


def _referenced_by_name():
    """Packages the code and the ini files name in strings: ``config.include("pyramid_tm")``,
    static assets ``"swagger_ui_bundle:..."``, ``use = egg:waitress#main``."""
    names = set()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "include"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and not node.args[0].value.startswith(".")):
                names.add(node.args[0].value.split(".")[0])
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("add_static_view", "static_path", "static_url")):
                for argument in node.args:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and ":" in argument.value:
                        names.add(argument.value.split(":")[0])
    for ini in ("development.ini", "production.ini"):
        names.update(re.findall(r"egg:([A-Za-z0-9_.-]+)#", (ROOT / ini).read_text()))
    return names - {"ticketing"}


def test_packages_named_in_strings_are_declared():
    declared = _install_requires()
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for name in _referenced_by_name():
        candidates = {_canonical(d) for d in providers.get(name, [])} | {_canonical(name)}
        if not candidates & declared:
            missing[name] = sorted(candidates)
    assert missing == {}
    assert {"pyramid_tm", "pyramid_jinja2", "pyramid_retry", "waitress", "swagger_ui_bundle"} <= _referenced_by_name()


def test_every_imported_distribution_is_declared():
    declared = _install_requires()
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
