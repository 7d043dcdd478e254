"""The zoo gate: every planted bug is caught by the ``ci`` search of the suite expected to
catch it, and the registry that lists the bugs is well formed.

Each member runs in a subprocess (``python -m pytest <its quick target> -x
--warmtier-store=<member>``) under ``ci-noshrink`` -- the ``ci`` profile's examples and
steps without the shrink phase -- on a fresh example database. ``nox -s mutants`` runs the
full matrix with shrinking and writes the report.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.zoo._support import PatchError, patch
from tests.zoo.registry import REPO_ROOT, SUITES, Member, members
from warmtier.testing.meta.zoo_runner import CAUGHT, format_table, run_matrix, run_one, summarize

MEMBERS = members()
GATE_TIMEOUT = float(os.environ.get("WARMTIER_ZOO_TIMEOUT", "300"))

#: The bug classes the issue asks the zoo to cover, each with at least one member.
REQUIRED_CATEGORIES = {
    "allocator", "replace", "remove", "compaction", "growth", "persistence", "crash",
    "concurrency", "scan", "search", "validation", "batch",
}


#: The zoo plants bugs in the reference store: it does not depend on the store under test.
pytestmark = pytest.mark.own_stores


def _gate_target(member: Member) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    suite = next((s for s in member.caught_by if (REPO_ROOT / SUITES[s][0]).exists()), None)
    if suite is None:
        pytest.fail(f"{member.name}: none of its suites {member.caught_by} exists; the bug "
                    "cannot be caught (add the suite or fix CAUGHT_BY)")
    if member.quick:
        return suite, (), member.quick
    return suite, SUITES[suite], ()


def test_zoo_has_at_least_twenty_members_covering_every_bug_class() -> None:
    categories = Counter(m.category for m in MEMBERS)
    assert len(MEMBERS) >= 20, f"only {len(MEMBERS)} zoo members: {sorted(categories)}"
    missing = REQUIRED_CATEGORIES - set(categories)
    assert not missing, f"no zoo member plants a bug of class {sorted(missing)}"


def test_a_patch_whose_lines_moved_fails_naming_the_member_the_method_and_the_lines() -> None:
    from warmtier.store import WarmTierStore

    class Moved(WarmTierStore):
        pass

    with pytest.raises(PatchError) as info:
        patch("_top_k", old="pairs.sort(key=by_slot)", new="pass")(Moved)
    message = str(info.value)
    assert "Moved" in message and "Ranking._top_k" in message, message
    assert "pairs.sort(key=by_slot)" in message and "is not there any more" in message, message


def test_every_member_names_its_bug_and_a_distinct_class() -> None:
    specs = Counter(m.spec.rpartition(":")[2] for m in MEMBERS)
    assert [s for s, n in specs.items() if n > 1] == [], "two members share a class name"
    vague = [m.name for m in MEMBERS if len(m.description) < 30]
    assert vague == [], f"these members' docstrings do not say what the bug is: {vague}"


@pytest.mark.parametrize("member", MEMBERS, ids=[m.name for m in MEMBERS])
def test_planted_bug_is_caught_by_the_ci_profile(member: Member, tmp_path: Path) -> None:
    suite, paths, quick = _gate_target(member)
    outcome = run_one(member, suite, paths, extra=quick, root=REPO_ROOT,
                      profile="ci-noshrink", timeout=GATE_TIMEOUT)
    assert outcome.status == CAUGHT, (
        f"zoo member {member.name} ESCAPED the {suite} suite ({outcome.status}).\n"
        f"  bug: {member.description}\n"
        f"  expected: a failing test; actual: {outcome.status}, {outcome.passed} passed, "
        f"{outcome.skipped} skipped in {outcome.wall_seconds:.0f} s\n"
        f"  {outcome.excerpt}\n"
        f"  replay: {outcome.command}"
    )


@pytest.mark.slow
def test_every_planted_bug_is_caught_by_some_suite_with_shrinking(tmp_path: Path) -> None:
    suites = {name: paths for name, paths in SUITES.items() if (REPO_ROOT / paths[0]).exists()}
    rows = run_matrix(MEMBERS, suites, root=REPO_ROOT, jobs=2, until_caught=True,
                      choose=lambda m: [*[s for s in m.caught_by if s in suites],
                                        *[s for s in suites if s not in m.caught_by]])
    escaped = [r for r in rows if r.status != CAUGHT]
    assert escaped == [], "planted bugs escaped every suite:\n" + format_table(rows)


def test_a_runner_verdict_folds_to_the_fastest_catching_suite() -> None:
    from warmtier.testing.meta.zoo_runner import MISSED, Outcome

    member = MEMBERS[0]
    runs = [Outcome(member.name, "a", MISSED),
            Outcome(member.name, "b", CAUGHT, first_test="t::slow", seconds=9.0),
            Outcome(member.name, "c", CAUGHT, first_test="t::fast", seconds=2.0)]
    row = summarize(member, runs)
    assert (row.status, row.suite, row.first_test) == (CAUGHT, "c", "t::fast")
    assert summarize(member, runs[:1]).status == MISSED
