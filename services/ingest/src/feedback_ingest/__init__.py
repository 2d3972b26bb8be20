"""Ingest: the API the survey form posts statements to."""
