"""The JSON renderer: ISO-8601 UTC timestamps, UUIDs as strings."""
import datetime
import uuid

from pyramid.renderers import JSON


def _datetime(value, request):
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


def includeme(config):
    renderer = JSON()
    renderer.add_adapter(datetime.datetime, _datetime)
    renderer.add_adapter(datetime.date, lambda value, request: value.isoformat())
    renderer.add_adapter(uuid.UUID, lambda value, request: str(value))
    config.add_renderer("json", renderer)
