"""Speech data for kodek: the BIGOS-v2 loader and the bundled Polish sample."""
