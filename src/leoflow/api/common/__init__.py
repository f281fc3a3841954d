"""Pieces every ``/api/v2`` route module shares: query parameters and app-level resources."""
