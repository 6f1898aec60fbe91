"""The edge: the caching proxy clients use (``python -m kit.edge CONFIG.json``).

This package's face imports nothing: :mod:`kit.edge.config` is read by the
site plan and the everyday commands, which must not load aiohttp."""
