"""AGI: the wire format (``protocol``), one session's commands (``session``), the FastAGI server
(``server``) and the classic (process-per-call, stdio) transport (``classic``)."""
