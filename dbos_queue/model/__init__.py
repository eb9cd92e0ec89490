"""Plain data and formats shared by every layer: status rows, config, serialization."""
