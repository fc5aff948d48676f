"""http: internal."""
