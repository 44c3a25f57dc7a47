"""Offline ranking models, online service, training pipeline, evaluation."""
