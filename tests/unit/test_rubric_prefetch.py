"""The rubric plugin's pure parts: which fixtures a rubric wants (read by AST), and feedback sanitising."""

from __future__ import annotations

from tests.helpers import FIXTURES


def test_wanted_fixtures_read_from_the_rubric(tmp_path):
    from dockyard.rubric.prefetch import wanted_fixtures

    (tmp_path / "test_static.py").write_text("def test_a(dockyard_dockerfile):\n    pass\n")
    assert wanted_fixtures(tmp_path) == frozenset()
    (tmp_path / "conftest.py").write_text("import pytest\n@pytest.fixture\ndef served(dockyard_container):\n    return 1\n")
    (tmp_path / "test_broken.py").write_text("def test_b(:\n")  # pytest reports it; no prefetch comes of it
    assert wanted_fixtures(tmp_path) == frozenset({"image", "container"})
    assert wanted_fixtures(FIXTURES / "course" / "graders" / "t-web") == frozenset({"image", "container"})


def test_no_prefetch_past_a_fixture_that_prepares_the_folder(tmp_path):
    """An autouse fixture taking `dockyard_submission` may change the folder before the build: build when asked."""
    from dockyard.rubric.prefetch import wanted_fixtures

    (tmp_path / "test_rubric.py").write_text("def test_a(dockyard_image):\n    pass\n")
    (tmp_path / "conftest.py").write_text(
        "import pytest\n@pytest.fixture(scope='session', autouse=True)\ndef prepare(dockyard_submission):\n    pass\n")
    assert wanted_fixtures(tmp_path) == frozenset()
    (tmp_path / "conftest.py").write_text(
        "import pytest\n@pytest.fixture(scope='session', autouse=False)\ndef keys(dockyard_submission):\n    pass\n")
    assert wanted_fixtures(tmp_path) == frozenset({"image"})
