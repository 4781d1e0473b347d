"""What relay shows the user while it runs: the terminal live view and the web console."""
