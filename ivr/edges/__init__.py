"""How the IVR talks to Asterisk: FastAGI (and classic AGI), AudioSocket, AMI.

Each edge has the same shape: a sans-IO ``protocol`` module (the wire format, tested byte by byte
against captures from a real Asterisk) and a thin transport beside it (server, session, client).
The edges import only themselves: they know nothing of flows, calls or the 34 00 line.
"""
