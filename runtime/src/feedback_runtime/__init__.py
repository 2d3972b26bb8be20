"""Plumbing every feedback service shares. Services configure it; none re-implements it."""
