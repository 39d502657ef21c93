"""The entity-relationship diagram in ``docs/erd.md``, generated from the models.

A hand-drawn diagram is out of date the day after someone adds a column. This one is
rendered from ``ticketing.models.metadata`` as a Mermaid ``erDiagram`` (GitHub and most
Markdown viewers draw it), and ``tests/unit/test_erd.py`` fails when the committed file
differs from a fresh rendering, so the diagram changes in the same commit as the schema.

    python -m ticketing.scripts.erd > docs/erd.md      (or: make erd)

The output is deterministic: tables and relationships are sorted by name, columns keep
their declaration order (the order a reader of the model sees, primary key first), and
types are compiled for PostgreSQL, the only database this project runs on.
"""
import re
import sys

from sqlalchemy import UniqueConstraint
from sqlalchemy.dialects import postgresql

from ticketing.models import metadata

INTRO = """\
# Entity-relationship diagram

Every table of the box office, generated from `ticketing.models.metadata` by `make erd`; do
not edit this file by hand (`tests/unit/test_erd.py` fails when it is stale). The schema
itself only changes through Alembic migrations. Keys: `PK` primary key, `FK` foreign key,
`UK` unique on its own. A solid line is an identifying relationship (the foreign key is part
of the child's primary key), a dotted line a plain reference; `||` exactly one, `|o` zero or
one, `o{` zero or many, `o|` at most one. Columns that point at another table without a
foreign key (for example `match_seats.hold_id`) are not drawn.
"""

# Mermaid attribute types are single words of letters, digits, "-", "_", "()" and "[]".
READABLE_TYPES = {
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
}
_NOT_IN_A_MERMAID_TYPE = re.compile(r"[^A-Za-z0-9_()\[\]-]+")

_DIALECT = postgresql.dialect()


def mermaid_type(column):
    compiled = column.type.compile(dialect=_DIALECT)
    compiled = READABLE_TYPES.get(compiled, compiled)
    return _NOT_IN_A_MERMAID_TYPE.sub("_", compiled)


def unique_column_sets(table):
    """Column-name sets the database keeps unique on every row (partial indexes excluded)."""
    sets = [frozenset(column.name for column in table.primary_key.columns)]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            sets.append(frozenset(column.name for column in constraint.columns))
    for index in table.indexes:
        # A partial index (one valid ticket per seat) or an expression index (lower(email))
        # does not make the plain column values unique.
        is_partial = index.dialect_options["postgresql"]["where"] is not None
        on_plain_columns = len(index.columns) == len(index.expressions)
        if index.unique and not is_partial and on_plain_columns:
            sets.append(frozenset(column.name for column in index.columns))
    return sets


def column_keys(column, unique_sets):
    keys = []
    if column.primary_key:
        keys.append("PK")
    if column.foreign_keys:
        keys.append("FK")
    if frozenset([column.name]) in unique_sets and not column.primary_key:
        keys.append("UK")
    return keys


def render_table(table):
    unique_sets = unique_column_sets(table)
    lines = [f"    {table.name} {{"]
    for column in table.columns:
        line = f"        {mermaid_type(column)} {column.name}"
        keys = column_keys(column, unique_sets)
        if keys:
            line += " " + ", ".join(keys)
        if column.nullable and not column.primary_key:
            line += ' "nullable"'
        lines.append(line)
    lines.append("    }")
    return lines


def relationship_line(constraint):
    """One foreign key as ``parent <cardinality> child : "columns"``."""
    child = constraint.parent
    parent = constraint.referred_table
    columns = [column.name for column in constraint.columns]
    optional = any(column.nullable for column in constraint.columns)
    at_most_one_child = frozenset(columns) in unique_column_sets(child)
    identifying = set(columns) <= {column.name for column in child.primary_key.columns}
    parent_end = "|o" if optional else "||"
    child_end = "o|" if at_most_one_child else "o{"
    line_style = "--" if identifying else ".."
    return f'    {parent.name} {parent_end}{line_style}{child_end} {child.name} : "{", ".join(columns)}"'


def render_erd(meta=metadata):
    tables = sorted(meta.tables.values(), key=lambda table: table.name)
    lines = ["```mermaid", "erDiagram"]
    for table in tables:
        lines.extend(render_table(table))
    relationships = sorted(
        (constraint.parent.name, [c.name for c in constraint.columns], relationship_line(constraint))
        for table in tables
        for constraint in table.foreign_key_constraints
    )
    lines.extend(line for _, _, line in relationships)
    lines.append("```")
    return INTRO + "\n" + "\n".join(lines) + "\n"


def main():
    sys.stdout.write(render_erd())


if __name__ == "__main__":  # pragma: no cover
    main()
