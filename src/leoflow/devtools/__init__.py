"""Developer tooling that is not part of the running product (code generation, drift checks)."""
