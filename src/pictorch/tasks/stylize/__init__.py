"""``pictorch stylize``: neural style transfer (Gatys optimisation, fast TransformerNet)."""
