"""A UDF for a database engine (see rows.py)."""
