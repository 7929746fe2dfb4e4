from urllib.parse import urlencode


def longest_prompt(char: str, limit: int = 8190) -> int:
    """How many `char`s fit in a prompt before `/ask?prompt=...` exceeds `limit` bytes."""
    per_char = len(urlencode({"prompt": char})) - len("prompt=")
    return (limit - len("/ask?prompt=")) // per_char
