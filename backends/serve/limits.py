"""The server's default limits, shared by `dlc serve`'s options and the app (cheap to import)."""

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024  # `dlc serve --max-body-bytes`: larger bodies get 413
