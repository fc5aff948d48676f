"""storage: internal."""
