"""Call lifecycle: the per-call context, outcomes, call records and the supervisor that runs each AGI
session as a call (safety nets included)."""
