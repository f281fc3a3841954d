"""HTTP operators."""
