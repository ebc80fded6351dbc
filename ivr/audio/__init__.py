"""Audio: WAV files, resampling and (later) the AudioSocket server."""
