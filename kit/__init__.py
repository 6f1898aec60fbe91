"""kit: an operator tutorial kit for Python package infrastructure.

The public surface is small and stays importable without loading the heavy
parts (cookiecutter, questionary, devpi) until they are used:

- :func:`kit.site.render.render_site` writes a site from validated answers;
- :func:`kit.site.clients.render_clients` renders client settings for any index;
- :class:`kit.site.answers.Answers` is the validated model of ``kit.toml``;
- :mod:`kit.core.errors` holds every error kit raises.
"""

__version__ = "0.1.0"
