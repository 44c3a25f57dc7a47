"""Turning store rows into model inputs: interactions, user and item features, simulator."""
