"""Handlers the end-to-end tests drive through the whole relay path."""

import os
import time


def handler(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    if action == "fail":
        raise ValueError(f"asked to fail: {event.get('why', 'no reason')}")
    if action == "big":
        return {"data": "x" * int(event["size"])}
    if action == "env":
        return {
            "greeting": os.environ.get("GREETING"),
            "is_local": os.environ.get("IS_LOCAL"),
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
            "has_credentials": bool(os.environ.get("AWS_ACCESS_KEY_ID")),
        }
    if action == "sleep":
        if event.get("mark"):  # a line per run, so a test can count runs of each event
            with open(event["mark"], "a") as marks:
                marks.write(f"{event.get('i')}\n")
        time.sleep(float(event["seconds"]))
        return {"slept": event["seconds"]}
    return {"echo": event, "version": 1}


def sleepy(event, context):
    time.sleep(float(event.get("seconds", 5)))
    return {"slept": event.get("seconds", 5)}
