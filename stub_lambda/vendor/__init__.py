"""Third-party code shipped inside the stub asset (see README.md); never imported by relay."""
