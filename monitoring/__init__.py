"""Monitoring the scored population: drift against the training population."""
