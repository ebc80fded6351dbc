"""Routing: opening hours and (later) the rules that pick the target queue."""
