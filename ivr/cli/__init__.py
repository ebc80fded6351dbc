"""The ``ivr`` command line: serving, checking flows, simulating calls, benchmarks."""
