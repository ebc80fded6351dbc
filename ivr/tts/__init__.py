"""Offline French prompt rendering (espeak-ng) and the prompt catalog."""
