import re

TOKEN_VALUE = re.compile(r"(?<=[?&]token=)[^&#]*")  # after ?token= or &token=, up to & or #


def mask_token(url: str) -> str:
    """The URL with the value of every `token` query parameter replaced by ***."""
    return TOKEN_VALUE.sub("***", url)
