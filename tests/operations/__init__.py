"""Tests of running the sale day: metrics, logs, backups, migrations on a live sale."""
