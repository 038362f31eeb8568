"""Where data comes from and where it lands: the replay source, the lake, and (later) X and Polymarket."""
