"""Pure risk core: declaration + verified evidence + policy -> channel (not built yet)."""
