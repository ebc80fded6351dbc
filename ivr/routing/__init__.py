"""Routing: the rules that pick a queue (overflow, priority, waiting), the router that applies them
with live queue state, and callbacks (booked, then dialled when an agent is free)."""
