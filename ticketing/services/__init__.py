"""Business rules. Each service takes a SQLAlchemy session and plain values; none knows HTTP."""
