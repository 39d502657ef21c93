"""Console scripts (``ticketing INI COMMAND``)."""
