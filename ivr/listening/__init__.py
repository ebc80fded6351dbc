"""How a question hears the caller: keys over AGI (``keypad``), speech over AudioSocket or a recording
(``speech``), decoded by Vosk (``vosk``, model download in ``model_fetch``). These are the I/O
adapters; what the words mean is :mod:`ivr.understanding`."""
