"""Encode a split with a codec into a token dataset in Hub layout, and publish it."""
