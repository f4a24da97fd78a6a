from massgen.cli.main import main

main()
