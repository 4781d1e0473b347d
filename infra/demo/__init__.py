"""relay's demo CDK app (the repository's cdk.json): one HTTP and one event-driven function."""
