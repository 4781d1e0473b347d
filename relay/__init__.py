"""relay: live local debugging of AWS Lambda functions."""

__version__ = "0.1.0"
