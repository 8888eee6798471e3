"""Capabilities, one folder each: identify, classify, autoencode, generate (more to come)."""
