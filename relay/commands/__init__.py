"""Command bodies: what each `relay` command does once cli.py has parsed its options."""
