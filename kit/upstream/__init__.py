"""The local upstream: a folder of wheels and sdists served as a simple index
(``python -m kit.upstream FOLDER``)."""
