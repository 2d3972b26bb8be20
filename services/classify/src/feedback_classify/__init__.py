"""Classify: routes each paragraph of a statement to the strategy sections it concerns."""
