"""verbs: internal."""
