"""`dockyard similarity`: a synthetic class with two copied pairs; both found, no other pair above the threshold."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from dockyard.cli import similarity
from dockyard.cli import Environment, main

EXERCISE = "03-first-image"
ANN = """# my image
FROM python:3.11-slim
WORKDIR /app
COPY app.py .
RUN useradd --create-home appuser
USER appuser
EXPOSE 8000
CMD ["python", "app.py"]
"""
ANN_COPY = """from python:3.11-slim

# copied, comments changed, case changed, blank lines added
workdir /app
copy   app.py .

run useradd --create-home appuser
user appuser
expose 8000
cmd ["python", "app.py"]
"""
BOB = """FROM python:3.11.2-slim-bookworm AS run
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1
WORKDIR /opt/service
COPY --chown=1000:1000 app.py /opt/service/app.py
LABEL org.opencontainers.image.title="hello <script>alert('bob')</script>"
EXPOSE 8000
CMD ["python3", "-u", "/opt/service/app.py"]
"""
BEA = BOB.replace("/opt/service", "/opt/svc").replace("hello", "hi")
OTHERS = {
    "cy": 'FROM python:3.11\nWORKDIR /code\nCOPY . /code\nEXPOSE 8000\nENTRYPOINT ["python"]\nCMD ["app.py"]\n',
    "dee": "FROM python:3.11-slim-bookworm\nRUN mkdir -p /srv/www\nWORKDIR /srv/www\nADD app.py ./\n"
           'HEALTHCHECK CMD python -c "print(1)"\nEXPOSE 8000/tcp\nCMD exec python ./app.py\n',
    "eve": "FROM python:3.11.2\nARG PORT=8000\nENV PORT=$PORT\nWORKDIR /home/app\nCOPY app.py main.py\n"
           'EXPOSE $PORT\nSTOPSIGNAL SIGINT\nCMD ["python", "main.py"]\n',
    "fay": "FROM python:3.11-slim\n",  # hardly anything of her own: in no pair
}


def make_class(root: Path) -> Path:
    root.mkdir()
    for name, text in {"ann": ANN, "ann2": ANN_COPY, "bob": BOB, **OTHERS}.items():
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text(text)
    with zipfile.ZipFile(root / "bea.o'neil.zip", "w") as archive:  # an archive, a name to escape
        archive.writestr("Dockerfile", BEA)
    return root


def test_two_copied_pairs_found_and_no_false_pair(tmp_path):
    out = tmp_path / "similarity.html"
    pairs = similarity.run(EXERCISE, make_class(tmp_path / "class"), out)
    assert {(pair.a, pair.b) for pair in pairs} == {("ann", "ann2"), ("bea.o'neil", "bob")}, \
        [(p.a, p.b, p.score) for p in pairs]
    assert pairs[0].score == 100.0 and (pairs[0].a, pairs[0].b) == ("ann", "ann2")  # ranked
    page = out.read_text()
    assert page.index("ann2") < page.index("bea.o&#x27;neil"), "ranked by similarity"
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;bob&#x27;)" in page
    assert "bea.o'neil" not in page, "every learner string is escaped"
    assert '<span class="shared">EXPOSE 8000</span>' in page
    assert "never grades" in page


def test_all_pairs_scores_show_the_rest_stay_below(tmp_path):
    texts = {name: similarity.normalised_lines(folder) for name, folder in
             ((p.name, p) for p in sorted(make_class(tmp_path / "class").iterdir()) if p.is_dir())}
    everything = similarity.compare(texts, set(), threshold=0)
    copied = {("ann", "ann2")}
    assert all(pair.score < similarity.DEFAULT_THRESHOLD - 10 for pair in everything if (pair.a, pair.b) not in copied)


def test_a_stage_name_keyword_in_any_case_is_the_same_line():
    assert similarity.normalise_dockerfile("from python:3.11 as builder\nFROM  python:3.11  As  builder\n") == [
        "FROM python:3.11 AS builder"] * 2
    assert similarity.normalise_dockerfile("FROM alias/as:1 AS base\n") == ["FROM alias/as:1 AS base"]  # only the keyword


def test_normalising():
    assert similarity.normalise_dockerfile("# c\n\nrun  apt-get update \\\n  # inner\n   && true\nfrom x\n") == \
        ["RUN apt-get update && true", "FROM x"]
    assert similarity.normalise_compose("services:  # top\n  web:\n    image: x   # pinned\n\n# gone\n") == \
        ["services:", "  web:", "    image: x"]


def test_cli_prints_pairs_and_writes_the_page(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = main(["similarity", EXERCISE, str(make_class(tmp_path / "class")), "--out", str(tmp_path / "s.html")],
                Environment(stdout=out, stderr=err, colour=False))
    assert code == 0 and "2 pair(s) at or above 85" in out.getvalue() and (tmp_path / "s.html").is_file()
    code = main(["similarity", EXERCISE, str(tmp_path / "class"), "--threshold", "120"],
                Environment(stdout=io.StringIO(), stderr=err, colour=False))
    assert code == 2 and "--threshold" in err.getvalue()
