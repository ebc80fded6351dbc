"""``python -m ivr``: the ``ivr`` command."""

from ivr.cli.main import main

raise SystemExit(main())
