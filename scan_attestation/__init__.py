"""Scan attestations from X-ray scanners and radiation portal monitors (not built yet)."""
