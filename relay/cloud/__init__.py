"""The cloud side: synthesis, the CDK toolkit, the stub asset, infrastructure watch."""
