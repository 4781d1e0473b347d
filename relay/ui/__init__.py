"""What relay shows the user while it runs."""
