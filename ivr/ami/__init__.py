"""AMI controller (panoramisk): live queue state, originate; knows nothing about flows."""
