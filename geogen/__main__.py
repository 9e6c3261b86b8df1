from geogen.cli import main

main()
