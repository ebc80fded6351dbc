from ivr.cli.main import main

main()
