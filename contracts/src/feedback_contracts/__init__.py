"""Contracts shared by the feedback pipeline's services: pydantic models only, no I/O beyond packaged data."""
