from urllib.parse import urlencode


def ask_url_bytes(prompt: str) -> int:
    """How many bytes `/ask?prompt=<prompt, percent-encoded>` takes on the request line."""
    target = "/ask?" + urlencode({"prompt": prompt})  # UTF-8, then %XX; a space becomes +
    return len(target.encode())
