"""Understanding what a caller said, on text (what Vosk outputs, or a transcript): pure functions, no I/O.

``text`` normalises, ``numbers`` reads French number words, ``digits`` reads a digit string said in
any way (digit by digit, in pairs, with « double », corrections), ``answers`` reads yes/no, ratings
and requests for an agent, ``slots`` and ``grammar`` describe what a question expects. What is
specific to one line (the 34 00's titles, file numbers) lives in that line's profile.
"""
