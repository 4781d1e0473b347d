"""Record and replay: every live invocation kept under ``.relay/stages/<stage>/events/``,
listed by ``relay events``, re-run by ``relay replay`` and turned into a pytest case."""
