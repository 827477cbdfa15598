"""requirements/workflows.txt, the hash-locked install of the workflows that hold credentials, is
fresh: written by its one documented command, and pins every dependency pyproject.toml declares
(with the [postgres] extra the workflows' store needs, and the build backend) at a version the
declaration allows, each with hashes. Checked offline, without resolving again: a new or changed
dependency in pyproject.toml fails here until `scripts/lock-requirements.sh` is run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "workflows.txt"
COMMAND = "scripts/lock-requirements.sh"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+) \\$")


def _pins() -> dict[str, tuple[Version, int, list[str]]]:
    """name -> (version, number of hashes, what it is pulled in by), from pip-compile's layout."""
    pins: dict[str, tuple[Version, int, list[str]]] = {}
    current = ""
    hashes: dict[str, int] = {}
    via: dict[str, list[str]] = {}
    versions: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            versions[current], hashes[current], via[current] = Version(match[2]), 0, []
        elif line.strip().startswith("--hash=sha256:") and current:
            hashes[current] += 1
        elif current and (found := re.match(r"^\s+#\s+(?:via\s+|\s*)(\S.*)$", line)) and found[1] != "via":
            via[current].append(found[1])
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{LOCK.name}: not a pin, hash or comment: {line!r}")
    for name, version in versions.items():
        pins[name] = (version, hashes[name], via[name])
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = [Requirement(text) for text in project["project"]["dependencies"]]
    declared += [Requirement(text) for text in project["project"]["optional-dependencies"]["postgres"]]
    declared += [Requirement(text) for text in project["build-system"]["requires"]]
    return declared


def test_the_lock_says_how_it_is_made() -> None:
    head = LOCK.read_text(encoding="utf-8").splitlines()[:6]
    assert "#    " + COMMAND in head, head
    assert (REPO / COMMAND).is_file()


def test_every_declared_dependency_is_pinned_within_its_specifier_with_hashes() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCK.name}: run {COMMAND}"
        version, hashes, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, outside {requirement}: run {COMMAND}"
        )
        for extra in requirement.extras:  # psycopg[binary] -> psycopg-binary
            assert canonicalize_name(f"{name}-{extra}") in pins, f"{requirement}: {name}-{extra} not pinned"
    assert all(hashes > 0 for _, hashes, _ in pins.values())


def test_every_pin_is_still_needed() -> None:
    """A dependency dropped from pyproject.toml leaves no orphan pin behind."""
    pins = _pins()
    for name, (_, _, pulled_in_by) in pins.items():
        assert pulled_in_by, f"{name} has no 'via' note"
        for reason in pulled_in_by:
            assert reason.startswith("campaign-reconciler (pyproject.toml") or canonicalize_name(reason) in pins, (
                f"{name} is pinned for {reason!r}, which is neither pyproject.toml nor another pin: run {COMMAND}"
            )
