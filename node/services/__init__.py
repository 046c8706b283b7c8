"""Node services: the workflows behind the CLI and the HTTP API (storage, keys, signing)."""
