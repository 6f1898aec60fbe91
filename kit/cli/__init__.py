"""The command line: typer commands that parse, call the layers below and print."""
