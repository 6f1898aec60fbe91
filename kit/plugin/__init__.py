"""kit's devpi-server plugin: purges the edges on every change, one team per
project. devpi loads :mod:`kit.plugin.hooks` through the ``devpi_server`` entry point.

Its modules, one job each: ``hooks`` (the hook implementations devpi calls),
``settings`` (the purge settings, checked at start), ``watcher`` (devpi's
commits followed), ``keys`` (which keys a change purges), ``sender`` (the
purges sent to the edges), ``ownership`` (one team per project)."""
