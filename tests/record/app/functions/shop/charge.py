"""Charge, invoked directly: refuses a non-positive amount."""


def handler(event, context):
    amount = event["amount"]
    if amount <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    return {"charged": amount, "currency": "EUR", "memory": int(context.memory_limit_in_mb)}
