"""AMI: the message format (``protocol``), live queue state (``queues``) and the controller that keeps
a logged-in connection (``controller``, on panoramisk)."""
