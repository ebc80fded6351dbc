"""The line's configuration over time, and who may change it.

* :mod:`ivr.versions.model`: a published version (its files' texts, hash, author, comment), an audit
  entry, a console user and their role;
* :mod:`ivr.versions.diff`: what changed between two versions, node by node and field by field;
* :mod:`ivr.versions.access`: passwords, sessions and the sign-in lock-out (no I/O).

The store keeps versions, the audit trail, users and sessions (``ivr.store``); the server follows the
live version and the CLI and the console publish (``ivr.server.publishing``).
"""
