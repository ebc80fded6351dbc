"""A lab on one machine: a real Asterisk with the product's own configuration, the IVR and the
tracking stub as separate processes, on free ports.

The same steps an operator takes on a host without docker (README, "Run it on a real Asterisk
without docker"): fill the placeholders of ``asterisk/etc`` as ``asterisk/entrypoint.sh`` does,
change only what differs per host (bind addresses and ports, ``[directories]``, where the IVR
listens), start the three processes. The end-to-end suite (``tests/e2e``) and ``ivr bench sip``
run on it.
"""
