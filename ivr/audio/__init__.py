"""Telephone audio: WAV files, resampling to 8 kHz, and endpointing (when a caller starts and stops speaking)."""
