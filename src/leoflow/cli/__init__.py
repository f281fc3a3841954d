"""The ``leoflow`` command line (Typer)."""
