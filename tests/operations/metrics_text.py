"""Reads Prometheus's text exposition in tests with prometheus_client's own parser."""
from prometheus_client.parser import text_string_to_metric_families


def samples(body):
    """{(sample name, frozenset of labels): value} for every sample of ``body``."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def total(body, name, **labels):
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, sample_labels), value in samples(body).items()
               if sample == name and wanted <= sample_labels)
