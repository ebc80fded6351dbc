"""AudioSocket: the frame format (``protocol``) and the server Asterisk connects back to (``server``)."""
