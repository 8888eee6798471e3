from pictorch.cli import main

main()
