from ivr.cli.main import main

raise SystemExit(main())
