"""File tracking: the resilient client the flows look files up with, and the stub service (demos, tests)."""
