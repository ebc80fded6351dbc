"""Speech: slots (what a question expects), French understanding, Vosk recognition."""
