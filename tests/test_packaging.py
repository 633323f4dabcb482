"""environment.yml, pyproject.toml, the Makefile and CI agree with each other."""

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from constraints_from_env import pins  # noqa: E402


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith(project["name"])]
    return {canonical(Requirement(r).name): Requirement(r) for r in reqs}


def environment_pins() -> dict[str, str]:
    text = (REPO / "environment.yml").read_text()
    return {canonical(p.split("==")[0]): p.split("==")[1] for p in pins(text)}


def test_environment_and_pyproject_name_the_same_dependencies():
    assert set(environment_pins()) == set(pyproject_requirements())


def test_every_pin_satisfies_the_pyproject_range():
    reqs = pyproject_requirements()
    for name, version in environment_pins().items():
        assert reqs[name].specifier.contains(version), f"{name}=={version} vs {reqs[name]}"


def test_environment_installs_the_package_with_all_extras():
    text = (REPO / "environment.yml").read_text()
    assert re.search(r"^\s*-\s+-e \.\[all\]\s*$", text, re.MULTILINE)
    assert "conda-forge" in text and re.search(r"^\s*-\s+python=3\.11\s*$", text, re.MULTILINE)


def test_ci_runs_the_readme_test_command_in_a_fresh_environment():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "rm -rf .venv" in ci and "make test" in ci
    assert "COURSE_DATA_DIR" in ci and "../shared/data" in ci


def test_only_the_helper_package_is_installable():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    packages = tool["setuptools"]["packages"]
    assert packages == ["course_utils", "course_utils.grading", "course_utils.grading.execute"]
    on_disk = sorted(
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "course_utils").rglob("__init__.py")
    )
    assert sorted(packages) == on_disk  # a new subpackage must be listed, or wheels lose it
