from zig_cli.cli import main

main()
