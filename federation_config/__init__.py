"""Federation settings schema and loader (not built yet)."""
