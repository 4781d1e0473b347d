import humanize


def shout(text: str) -> str:
    return f"{text.upper()}! ({humanize.intcomma(len(text) * 1000)})"
