"""File tracking: the stub service (for demos and tests) and the resilient client the flows use."""
