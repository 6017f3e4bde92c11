from hortus.cli import main

main()
