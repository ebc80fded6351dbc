"""34 00 IVR: an open-source voice server that answers a public-service hotline through Asterisk."""

__version__ = "0.1.0"
