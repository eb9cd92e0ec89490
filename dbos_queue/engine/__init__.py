"""Running workflows and steps: checkpoints, messages, events, streams, transactions."""
