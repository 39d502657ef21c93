"""docs/erd.md must be what ``make erd`` renders from the models today."""
from pathlib import Path

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, MetaData, String, Table

from ticketing.scripts.erd import render_erd

ERD_FILE = Path(__file__).resolve().parents[2] / "docs" / "erd.md"


def test_committed_erd_matches_the_models():
    fresh = render_erd()
    committed = ERD_FILE.read_text(encoding="utf-8") if ERD_FILE.exists() else ""
    assert committed == fresh, (
        "docs/erd.md is out of date with ticketing.models: run `make erd` and commit docs/erd.md"
    )


def test_rendering_is_deterministic_and_draws_keys_and_relationships():
    meta = MetaData()
    Table("b_parents", meta, Column("id", BigInteger, primary_key=True), Column("code", String(8), unique=True))
    Table(
        "a_children", meta,
        Column("parent_id", ForeignKey("b_parents.id"), primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("note", String(20), nullable=True),
    )

    erd = render_erd(meta)

    assert erd == render_erd(meta)
    assert erd.index("    a_children {") < erd.index("    b_parents {")
    assert "        BIGINT parent_id PK, FK\n" in erd
    assert "        VARCHAR(8) code UK" in erd
    assert '        VARCHAR(20) note "nullable"\n' in erd
    assert '    b_parents ||--o{ a_children : "parent_id"\n' in erd
