"""kit's devpi-server plugin: purges the edges on every change, one team per
project. devpi loads :mod:`kit.plugin.hooks` through the ``devpi_server`` entry point."""
