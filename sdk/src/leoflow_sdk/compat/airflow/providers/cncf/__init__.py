"""CNCF providers."""
