"""The pins `make` installs and the conda environment must name the same packages at the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_matches_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "python" + requires in deps, f"environment.yml should ask for python{requires}, as pyproject.toml does"
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    conda_pins = {}
    for line in pip_section:
        if line.startswith("-e"):
            continue
        name, _, version = line.partition("==")
        conda_pins[name.lower().replace("_", "-")] = version
    assert conda_pins == lock_pins()


def test_every_direct_dependency_is_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock_pins()
    missing = [dep for dep in project["dependencies"] if dep.lower().replace("_", "-") not in pins]
    assert not missing, f"direct dependencies without a pin in requirements.lock: {missing}"
