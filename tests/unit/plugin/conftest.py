from tests.support.plugin import receiver  # noqa: F401 - the stand-in edge, a fixture of these tests
