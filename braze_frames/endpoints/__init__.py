"""endpoints: internal."""
