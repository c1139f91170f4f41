from nir.cli import main

main()
