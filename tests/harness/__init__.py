"""Test harness shared by the whole suite: real PostgreSQL and Redis, fast per-test databases."""
