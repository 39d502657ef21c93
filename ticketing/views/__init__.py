"""HTTP views: JSON API views under ``views.api`` and the HTML admin under ``views.admin``."""


def includeme(config):
    config.include(".api")
