"""The JSON renderer (ticketing/renderers.py): the API's formats, encoded by orjson."""
import datetime
import json
import uuid

import pytest
from pyramid.response import Response

from ticketing.renderers import dumps, json_renderer_factory


def test_timestamps_are_utc_with_z_whatever_their_zone_and_naive_ones_are_left_alone():
    cet = datetime.timezone(datetime.timedelta(hours=1))
    body = json.loads(dumps({
        "aware": datetime.datetime(2027, 3, 1, 19, 0, tzinfo=cet),
        "micro": datetime.datetime(2027, 3, 1, 18, 0, 0, 123456, tzinfo=datetime.timezone.utc),
        "naive": datetime.datetime(2027, 3, 1, 18, 0),
        "day": datetime.date(2027, 3, 1),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        7: [1, "č", None, True],
    }))
    assert body == {
        "aware": "2027-03-01T18:00:00Z",
        "micro": "2027-03-01T18:00:00.123456Z",
        "naive": "2027-03-01T18:00:00",
        "day": "2027-03-01",
        "id": "12345678-1234-5678-1234-567812345678",
        "7": [1, "č", None, True],
    }


def test_what_json_cannot_say_is_an_error_not_a_guess():
    with pytest.raises(TypeError):
        dumps({"amount": object()})


def test_the_renderer_sets_the_json_content_type_unless_the_view_chose_one():
    class Request:
        response = Response()

    render = json_renderer_factory(None)
    request = Request()
    assert render({"ok": True}, {"request": request}) == b'{"ok":true}'
    assert request.response.content_type == "application/json"
    request.response = Response(content_type="application/problem+json")
    render({}, {"request": request})
    assert request.response.content_type == "application/problem+json"
