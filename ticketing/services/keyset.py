"""Keyset pagination for the staff lists that grow all season (orders, users, the audit log).

A page numbered by OFFSET needs the total for its pager and reads every row before the page;
both grow with the season (decision 0038). A keyset page continues from the last id shown,
through the primary key, and fetches one row more than it shows to know whether there is a
next page: the cost of a page is the page, however long the list.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    rows: list
    has_previous: bool
    has_next: bool
    first_id: int | None
    last_id: int | None


def fetch(dbsession, query, id_column, *, size, after=None, before=None, descending=True,
          key=lambda row: row.id, scalars=True):
    """One page of ``query`` in ``id_column`` order (newest first when ``descending``).

    ``after``: continue past this id (the next page); ``before``: the page that ends just
    before this id (the previous page). ``key`` reads the id from a row."""
    backwards = before is not None and after is None
    if backwards:
        query = query.where(id_column > before if descending else id_column < before)
        order = id_column.asc() if descending else id_column.desc()
    else:
        if after is not None:
            query = query.where(id_column < after if descending else id_column > after)
        order = id_column.desc() if descending else id_column.asc()
    result = dbsession.execute(query.order_by(order).limit(size + 1))
    rows = list(result.scalars() if scalars else result)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
        has_previous, has_next = more, True
    else:
        has_previous, has_next = after is not None, more
    ids = [key(row) for row in rows]
    return Page(rows, has_previous and bool(rows), has_next and bool(rows),
                ids[0] if ids else None, ids[-1] if ids else None)
