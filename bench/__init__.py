"""The performance benchmark (`python -m bench`): every figure against a same-run reference on the same machine."""
