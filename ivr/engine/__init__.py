"""Flow engine: typed flow model, loader/validator and interpreter."""
