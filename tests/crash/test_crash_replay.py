"""``--crash-replay SEED:POINT`` (``nox -s crash -- --replay SEED:POINT``) reruns exactly
the failure a crash test printed: a kill round, a power-loss crash point (pl:N), or a
case of the fuzz loop (fz:I), or an injected fault (raise:..., enospc:...)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from warmtier.errors import CapacityError
from warmtier.testing.crash.faults import enospc, inject_exception
from warmtier.testing.crash.fuzz import apply_mutations, base_images, loop_case, open_outcome
from warmtier.testing.crash.kills import KillHarness
from warmtier.testing.crash.points import KillPoint
from warmtier.testing.crash.powerloss import PowerLossRun


def test_replay_reproduces_the_printed_failure(
        crash_replay: tuple[int, KillPoint], store_class: type[Any], store_spec: str,
        crash_workdir: str, reference_promises: bool) -> None:
    seed, point = crash_replay
    if point.kind == "fz":
        rng = np.random.default_rng(seed)
        bases = base_images(store_class, crash_workdir)
        for i in range(point.number + 1):
            base, muts = loop_case(rng, i, sorted(bases))
        problems = open_outcome(store_class, apply_mutations(bases[base], muts))
        if problems:
            pytest.fail(f"base store {base!r} with {[str(m) for m in muts]}:\n  "
                        + "\n  ".join(problems), pytrace=False)
        return
    if point.kind in ("raise", "enospc"):
        error = enospc(point.name) if point.kind == "enospc" else None
        outcome = inject_exception(store_class, seed, point, error=error,
                                   changes_nothing=point.kind == "enospc")
        assert outcome.fired, f"seed {seed} never reaches {point}"
        if outcome.problems or (point.kind == "enospc" and outcome.raised is not None
                                and not isinstance(outcome.raised, CapacityError)):
            pytest.fail(f"fault at {point}, seed {seed} (raised "
                        f"{type(outcome.raised).__name__}: {outcome.raised}):\n  "
                        + "\n  ".join(outcome.problems), pytrace=False)
        return
    if point.kind == "pl":
        run = PowerLossRun(store_class, store_spec, crash_workdir, seed, ops=point.ops or 80,
                           only=point.number)
        result = run.run()
        assert result.crash_points == 1, (
            f"seed {seed} has no crash point {point.number} (the workload captured fewer)")
        if result.failures:
            pytest.fail("\n\n".join(result.failures), pytrace=False)
        return
    with KillHarness(store_spec, crash_workdir, strict=reference_promises) as harness:
        result = harness.round(seed, point)
    print(f"replayed seed {seed} at {point}: {result.where()}")
    if result.problems:
        pytest.fail(result.report(), pytrace=False)
