"""Trust registry: peers, mutual recognition agreements, status lists (not built yet)."""
