"""BuildKit-only syntax gets one line at the learner's line, before any build (no engine)."""

import pytest

from dockyard.static.dockerfile import parse_dockerfile
from dockyard.static.syntax import classic_builder_problems


def problems(body: str) -> list[str]:
    return [p.message for p in classic_builder_problems(parse_dockerfile("FROM python:3.11-slim\n" + body))]


@pytest.mark.parametrize("body,words", [
    ("RUN --mount=type=cache,target=/root/.cache/pip pip install flask\n", ["line 2", "RUN --mount", "--no-cache-dir"]),
    ("RUN --mount=type=secret,id=key cat /run/secrets/key\n", ["line 2", "RUN --mount", "run time"]),
    ("COPY --chmod=755 start.sh /start.sh\n", ["line 2", "COPY --chmod", "RUN chmod"]),
    ("COPY --link app.py /app/\n", ["line 2", "--link"]),
    ("RUN <<EOF\npip install flask\nEOF\n", ["line 2", "heredocs", "&&"]),
    ("RUN <<-\"SCRIPT\"\necho hi\nSCRIPT\n", ["line 2", "heredocs"]),
])
def test_buildkit_only_syntax_is_named_with_its_fix(body, words):
    found = problems(body)
    assert len(found) == 1 and "\n" not in found[0], found
    for word in words:
        assert word in found[0], found[0]


@pytest.mark.parametrize("body", [
    "RUN pip install --no-cache-dir flask\n",
    "COPY --chown=app:app --from=builder /root/.local /home/app/.local\n",
    "RUN echo \"a << b\" && bash -c 'cat <<< hi'\n",
    "HEALTHCHECK --interval=5s CMD curl -f http://localhost:8000/health\n",
])
def test_classic_syntax_passes(body):
    assert problems(body) == []
