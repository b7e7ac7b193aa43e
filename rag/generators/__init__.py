"""Generator backends: transformers (in process), an OpenAI-compatible server, and extractive (no model)."""
