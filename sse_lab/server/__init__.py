"""The lab server: one aiohttp app for the demo stream, the chat design and the built-in model."""
