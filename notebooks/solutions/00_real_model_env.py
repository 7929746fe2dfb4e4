def real_model_env(
    api_key: str, base_url: str | None = None, model: str | None = None
) -> dict[str, str]:
    """The environment variables that make the lab answer with this provider and model."""
    env = {"OPENAI_API_KEY": api_key}
    if base_url is not None:
        env["OPENAI_BASE_URL"] = base_url
    if model is not None:
        env["SSE_LAB_MODEL"] = model
    return env
