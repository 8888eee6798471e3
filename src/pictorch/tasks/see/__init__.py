"""``pictorch see``: what a network sees (filters, layers, activation maximisation, DeepDream)."""
