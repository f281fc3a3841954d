"""Provider packages the shim covers; any other provider path is refused on import."""
