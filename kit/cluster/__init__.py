"""A site running: its services started, watched, asked and stopped (``kit up``,
``kit down``, ``kit status``)."""
