"""Refusal notices: the letter a refused client receives, as HTML and PDF."""
