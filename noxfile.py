"""nox sessions: the CI gate (`tests`), the main job (`properties`), lint, and the nightlies.

Every session installs what it needs into its own virtualenv; nothing relies on what
the machine happens to have. Extra pytest arguments go after `--`, for example
`nox -s properties -- --warmtier-store=mypkg.store:MyStore -k put`.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHON = os.environ.get("WARMTIER_PYTHON", "3.11")


def install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CI gate: unit tests, the `ci` property profile, and the quick parts of every suite."""
    install(session, "test")
    session.run(
        "pytest",
        "-m",
        "not slow",
        "--hypothesis-profile=ci",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"WARMTIER_HYPOTHESIS_PROFILE": "ci"},
    )


@nox.session(python=PYTHON)
def properties(session: nox.Session) -> None:
    """The main job: every stateful property machine, `dev` profile unless told otherwise."""
    install(session, "test")
    args = session.posargs or []
    profile = [] if any(a.startswith("--hypothesis-profile") for a in args) else [
        "--hypothesis-profile=dev"
    ]
    session.run("pytest", "tests/properties", *profile, *args)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict) over src/."""
    install(session, "lint", "test")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("mypy", "src/warmtier")
