"""The JSON API: views translate HTTP to service calls and service results to JSON."""


def includeme(config):
    config.scan(".")
