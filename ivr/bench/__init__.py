"""Benchmarks behind ``ivr bench``: each prints progress and ends with one JSON summary line."""
