"""The link between the stub (in AWS) and the relay client: messages and the two sans-I/O
session machines. No sockets, no clocks: every input carries the current time."""
