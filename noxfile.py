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
    """The CI gate: unit tests, the `ci` property profile, and the quick parts of every
    suite against the reference store; then the quick subsets against the model, both
    engine adapters and their unsafe variants (`nox -s engines`)."""
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
    if not session.posargs:  # the same quick subsets against the other subjects
        session.run("python", "-m", "warmtier.testing.meta.engine_matrix", "--skip", "reference")


@nox.session(python=PYTHON)
def engines(session: nox.Session) -> None:
    """The quick subset of every suite against every subject (the reference store, the
    model, the SQLite and LMDB adapters, and their deliberately unsafe variants); prints
    the results table of docs/any-store.md. `-- --only sqlite --markdown FILE`."""
    install(session, "test")
    session.run("python", "-m", "warmtier.testing.meta.engine_matrix", *session.posargs)


@nox.session(python=PYTHON)
def properties(session: nox.Session) -> None:
    """The main job: every stateful property machine, `dev` profile unless told otherwise.

    A failure prints `Replay: nox -s properties -- <test id> ...`; when the arguments name
    a test (a path under tests/ or a node id) only that runs. The planted-bug self-test is
    marked slow: `nox -s properties -- -m slow` runs it. Mirrored by
    `warmtier.testing.compare.nox_to_pytest_argv`; keep the two in step.
    """
    install(session, "test")
    args = list(session.posargs)
    targets = [] if any(_is_test_target(a) for a in args) else ["tests/properties"]
    profile = [] if any(a.startswith("--hypothesis-profile") for a in args) else [
        "--hypothesis-profile=dev"
    ]
    marks = [] if targets == [] or any(a == "-m" or a.startswith("-m") for a in args) else [
        "-m", "not slow"
    ]
    session.run("pytest", *targets, *marks, *args, *profile)


def _is_test_target(arg: str) -> bool:
    return not arg.startswith("-") and (arg.startswith("tests/") or "::" in arg)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over src/, tests/ and noxfile.py; mypy (strict) over src/ (with the optional
    libraries the perf and meta modules import, so their types are checked too)."""
    install(session, "lint", "test", "scale", "mutants")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("mypy", "src/warmtier")


def _run_id() -> str:
    import datetime
    import uuid

    now = datetime.datetime.now(datetime.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@nox.session(python=PYTHON)
def scale(session: nox.Session) -> None:
    """Nightly scale suite: 10K and 100K, lifecycle, leak, cliff, concurrency; `-- --scale=1m`
    adds 1M. Appends a run record to results/scale and writes reports/scale/<run id>/."""
    install(session, "test", "scale")
    run_id = _run_id()
    env = {"WARMTIER_RUN_ID": run_id}
    common = [
        "tests/scale",
        "-p",
        "no:cacheprovider",
        "--scale-results=results/scale",
        "--scale-reports=reports/scale",
        *session.posargs,
    ]
    # Untimed scenarios (space, memory, concurrency) spread over the cores; a failure
    # there must not stop the timed half, so the verdict comes at the end.
    session.run("pytest", *common, "-m", "not timing", "-n", "2", env=env, success_codes=[0, 1])
    # Timed scenarios run alone, one at a time.
    session.run("pytest", *common, "-m", "timing", env=env, success_codes=[0, 1, 5])
    session.run(
        "python", "-m", "warmtier.perf.report", "--results", "results/scale",
        "--reports", "reports/scale", "--run", run_id, "--fail-on-failed-tests",
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """warmtier against py-lmdb, SQLite, a dict of numpy arrays and a numpy memmap, on the
    same data (`-- --scale=1m` adds 1M scan/search/open). Writes reports/bench/. Never in CI."""
    install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def concurrency(session: nox.Session) -> None:
    """The concurrency suite, slow parts included: barrier races, panic injection,
    linearizability, controlled schedules, parallel branches, the race zoo. One process,
    so races see quiet cores; `-- --warmtier-schedule-seed=N` replays one schedule."""
    install(session, "test")
    session.run(
        "pytest",
        "tests/concurrency",
        "tests/unit/test_linearizability.py",
        "tests/unit/test_scheduler.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def crash(session: nox.Session) -> None:
    """The crash-consistency suite (issue 8), slow parts included: process kills
    (systematic and random), power-loss images, injected faults and full disks, file
    fuzzing, and the crash bugs of the zoo. `-- --rounds=10000` is the nightly size;
    `-- --replay SEED:POINT` reruns one printed failure (alone, in one process)."""
    install(session, "test")
    args = list(session.posargs)
    replay = any(a.startswith(("--replay", "--crash-replay")) for a in args)
    parallel = [] if replay or any(a.startswith("-n") for a in args) else ["-n", "2"]
    session.run("pytest", "tests/crash", "-p", "no:cacheprovider", *parallel, *args)


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """The bug zoo's full matrix: every suite against every planted bug (`ci` profile, with
    shrinking). Prints the table (missed bugs first) and writes reports/zoo.json.
    `-- --only NAME[,NAME]`, `--suites properties,crash`, `--until-caught` narrow it."""
    install(session, "test")
    session.run(
        "python", "-m", "warmtier.testing.meta.zoo_runner", "--registry", "tests.zoo.registry",
        "--json", "reports/zoo.json", "--profile", "ci", *session.posargs,
        env={"PYTHONPATH": os.path.dirname(os.path.abspath(__file__))},
    )


@nox.session(python=PYTHON)
def nightly(session: nox.Session) -> None:
    """One campaign over every suite's long runs (nightly properties, thousands of
    schedules, 10,000 crash rounds, the zoo, scale), this machine's part of it:
    `-- --shard=1/4 --shared-db=redis://host:6379/0`, then the merged report
    (reports/campaign/<night>/). See docs/nightly.md."""
    install(session, "test", "scale")
    session.run("python", "-m", "warmtier.campaign.run", *session.posargs,
                success_codes=[0, 1])


@nox.session(python=PYTHON)
def mutmut(session: nox.Session) -> None:
    """Nightly: mutmut over src/warmtier (config in pyproject [tool.mutmut]); prints the
    mutation score and every surviving mutant, writes reports/mutmut.json.

    `-- --sample N [--seed S]` runs a uniform random sample of N mutants instead (names in
    reports/mutmut-sample.txt) and scores only those; other arguments go to `mutmut run`."""
    install(session, "test", "mutants")
    args = list(session.posargs)
    sample = _take_option(args, "--sample")
    seed = _take_option(args, "--seed") or "0"
    report = ["python", "-m", "warmtier.testing.meta.mutation_report", "--json", "reports/mutmut.json"]
    if sample is None:
        session.run("mutmut", "run", *args, success_codes=[0, 1, 2])
        session.run(*report)
        return
    session.run("mutmut", "run", "no-such-mutant", success_codes=[0, 1, 2])  # generate only
    os.makedirs("reports", exist_ok=True)
    picked = session.run(*report, "--pick", sample, "--seed", seed, silent=True)
    names = str(picked).split()
    with open("reports/mutmut-sample.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    session.run("mutmut", "run", *args, *names, success_codes=[0, 1, 2])
    session.run(*report, "--only", "reports/mutmut-sample.txt")


def _take_option(args: list[str], name: str) -> str | None:
    """Remove ``name VALUE`` (or ``name=VALUE``) from ``args``; return VALUE."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
            del args[i : i + 2]
            return value
        if a.startswith(name + "="):
            del args[i]
            return a.partition("=")[2]
    return None
