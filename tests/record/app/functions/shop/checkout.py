"""Checkout behind a function URL: totals a basket (deterministic)."""

import hashlib
import json
import os


def handler(event, context):
    basket = json.loads(event.get("body") or "{}")
    total = sum(item["qty"] * item["price"] for item in basket.get("items", []))
    # uses the secret without returning it, as real code would
    signature = hashlib.sha256(os.environ["PAYMENT_API_SECRET"].encode()).hexdigest()[:6]
    print(f"checkout for {len(basket.get('items', []))} item(s), signed {bool(signature)}")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {"total": total, "currency": os.environ["CURRENCY"], "email": basket.get("email")}
        ),
    }
