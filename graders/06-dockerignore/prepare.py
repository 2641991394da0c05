"""Preparation for 06-dockerignore: give the scratch copy a `.git/` folder before anything is built.

git cannot carry a `.git/` folder inside the course repository, so the grader adds a small fake
one (with a recognisable commit message) to its private copy of the learner's folder. The grader
calls `prepare(path)` right after copying the folder, before anything reads or builds it.
"""

from pathlib import Path

GIT_MARKER = "dockyard-fake-commit-5e1d0c3b: add the quotes app"


def prepare(path: Path) -> None:
    git = path / ".git"
    (git / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (git / "objects").mkdir(exist_ok=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
    (git / "COMMIT_EDITMSG").write_text(GIT_MARKER + "\n")
    (git / "refs" / "heads" / "main").write_text("5e1d0c3b9a7f00000000000000000000000000aa\n")
