"""What relay observes of each invocation: the feed every emitter publishes finished
invocations to (invocations.py) and its observers (observers.py: live view, recorder,
console); and observe mode (emulator.py, layer.py): the real code keeps serving in the cloud,
a copy of each (sampled) event reaches `relay start`, which runs it locally too and shows
where the answers differ."""

#: The wrapper's handler, set on each observed function (its real one in RELAY_ORIGINAL_HANDLER).
HANDLER = "relay_observe.handler"
