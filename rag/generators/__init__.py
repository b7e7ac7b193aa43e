"""Generator backends behind one protocol (protocol.py): transformers (in process, with the shared-prefill
batched decoder), llama.cpp (in process), an OpenAI-compatible server, and extractive (no model)."""
