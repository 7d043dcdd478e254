"""What a run exercised: counters any harness bumps while a test runs, the tally they add
up to across tests and pytest-xdist workers, and the one-screen summary printed from it.

Harnesses call ``count("histories checked")``, ``sample("operations per history", n)``,
``highest("largest store", n)`` or ``occurred("rule: put_new")`` (a machine event, per
occurrence); state machines are named with ``note_machine(cls)`` so that rules that never
fired show. The pytest plugin (:mod:`warmtier.testing.run_summary`) adds Hypothesis'
own statistics (examples, events per example, targets) and prints the block. Each call
is a dict update under a lock: cheap enough for every step of a machine.

>>> t = Tally(counts={"crash: kill rounds": 2, "crash: kills": 3})
>>> render(t, width=60)
['warmtier: what this run exercised', 'crash        2 kill rounds, 3 kills']
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FIGURES",
    "Tally",
    "count",
    "highest",
    "note_machine",
    "occurred",
    "render",
    "sample",
    "take",
]

#: Rule events of a state machine (``counted`` records ``event("rule: NAME")``).
RULE = "rule: "
#: The store figures, each the machine events it adds up (prefixes of event names).
FIGURES: dict[str, tuple[str, ...]] = {
    "growths": ("growth: ",),
    "reopens": ("rule: close_and_reopen", "rule: abandon_and_reopen"),
    "abandoned reopens": ("rule: abandon_and_reopen",),
    "compactions": ("rule: compact",),
}
#: Events Hypothesis records by itself (filters retried, draws abandoned): not ours.
_HYPOTHESIS_OWN = ("Retried draw from", "Aborted test because", "invalid because",
                   "gave up because")
#: Test cases of these phases are what the search explored (shrinking is counted apart).
_EXPLORING = ("reuse-phase", "generate-phase")
_SHRINKING = ("shrink-phase", "explain-phase")
UNNAMED = "(machine not named)"


def _machine() -> dict[str, Any]:
    return {"rules": [], "runs": 0, "examples": 0, "fired": {}, "ran": {}}


@dataclass
class Tally:
    """Everything counted, as plain JSON-able maps so that it travels from an xdist worker
    to the controller on a test report and adds up there (:meth:`merge`).

    ``counts`` are summed, ``highest`` keeps maxima; ``events`` counts the examples each
    Hypothesis event was seen in (Hypothesis' statistics), ``occurred`` every occurrence
    (when a harness calls :func:`occurred`); ``machines`` holds, per state machine class
    name, its rules and how many examples (``fired``) and times (``ran``) each ran.
    """

    counts: dict[str, float] = field(default_factory=dict)
    highest: dict[str, float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    occurred: dict[str, int] = field(default_factory=dict)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts or self.highest or self.events or self.occurred
                    or self.machines)

    def add(self, name: str, n: float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def keep_highest(self, name: str, value: float) -> None:
        if name not in self.highest or value > self.highest[name]:
            self.highest[name] = value

    def machine(self, name: str) -> dict[str, Any]:
        return self.machines.setdefault(name, _machine())

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "highest": self.highest, "events": self.events,
                "occurred": self.occurred, "machines": self.machines}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        tally = cls()
        tally.merge(data)
        return tally

    def merge(self, other: Tally | Mapping[str, Any]) -> None:
        """Add ``other`` (a Tally or its JSON form) into this one."""
        data = other.to_json() if isinstance(other, Tally) else other
        for name, n in data.get("counts", {}).items():
            self.add(name, float(n))
        for name, value in data.get("highest", {}).items():
            self.keep_highest(name, float(value))
        for target, source in ((self.events, data.get("events", {})),
                               (self.occurred, data.get("occurred", {}))):
            for name, n in source.items():
                target[name] = target.get(name, 0) + int(n)
        for name, theirs in data.get("machines", {}).items():
            mine = self.machine(name)
            mine["rules"] = sorted(set(mine["rules"]) | set(theirs.get("rules", [])))
            mine["runs"] += int(theirs.get("runs", 0))
            mine["examples"] += int(theirs.get("examples", 0))
            for key in ("fired", "ran"):
                for rule, n in theirs.get(key, {}).items():
                    mine[key][rule] = mine[key].get(rule, 0) + int(n)

    def add_statistics(self, stats: Mapping[str, Any], machine: str | None) -> None:
        """Add one Hypothesis run's statistics (the dict ``hypothesis.statistics`` hands
        its collector): examples by phase, the examples each event was seen in, the
        examples each rule of ``machine`` fired in, the highest target scores."""
        self.add("hypothesis: runs")
        m = self.machine(machine) if machine is not None else None
        if m is not None:
            m["runs"] += 1
        elif any(e.startswith(RULE) for phase in _EXPLORING
                 for case in stats.get(phase, {}).get("test-cases", [])
                 for e in case.get("events", [])):
            m = self.machine(UNNAMED)  # a machine, but nobody said which
            m["runs"] += 1
        for phase in (*_EXPLORING, *_SHRINKING):
            for case in stats.get(phase, {}).get("test-cases", []):
                status = str(case.get("status", ""))
                if phase in _SHRINKING:
                    self.add("hypothesis: shrink attempts")
                    continue
                if status in ("invalid", "overrun"):
                    self.add("hypothesis: invalid")
                    continue
                self.add("hypothesis: examples")
                if phase == "reuse-phase":
                    self.add("hypothesis: replayed")
                self._add_case(case.get("events", []), m)
        for label, score in stats.get("targets", {}).items():
            self.keep_highest(f"target: {label}", float(score))

    def _add_case(self, events: Iterable[str], m: dict[str, Any] | None) -> None:
        families = set()
        rules = False
        for text in events:
            if text.startswith(_HYPOTHESIS_OWN):
                continue
            if text.startswith(RULE) and m is not None:
                rules = True
                rule = text[len(RULE):]
                m["fired"][rule] = m["fired"].get(rule, 0) + 1
            name = _family(text)
            if name not in families:
                families.add(name)
                self.events[name] = self.events.get(name, 0) + 1
        if m is not None and (rules or m["rules"]):
            m["examples"] += 1


def _family(event: str) -> str:
    """Events that name a drawn value (``rejected: put confidence = 1.5``) count as one
    family (``rejected: put confidence``): the value is not what the summary is about."""
    return event.split(" = ", 1)[0]


# -- the counters of the running process ----------------------------------------------

_lock = threading.Lock()
_current = Tally()
_machine_now: str | None = None


def count(name: str, n: float = 1) -> None:
    """Add ``n`` to the counter ``name`` (``"histories checked"``, ``"schedules: pct"``)."""
    with _lock:
        _current.add(name, n)


def sample(name: str, value: float) -> None:
    """One observation of a size: counts it and keeps the sum and the maximum
    (``sample("operations per history", len(history))``: histories, mean, max)."""
    with _lock:
        _current.add(name)
        _current.add(f"{name}: sum", value)
        _current.keep_highest(name, value)


def highest(name: str, value: float) -> None:
    """Keep the largest ``value`` seen under ``name`` (``"largest store"``)."""
    with _lock:
        _current.keep_highest(name, value)


def occurred(event: str) -> None:
    """One occurrence of a machine event (Hypothesis counts an event once per example;
    this counts every time): ``rule: NAME`` events count a rule's firings and the steps."""
    with _lock:
        if event.startswith(RULE):
            m = _current.machine(_machine_now or UNNAMED)
            rule = event[len(RULE):]
            m["ran"][rule] = m["ran"].get(rule, 0) + 1
        name = _family(event)
        _current.occurred[name] = _current.occurred.get(name, 0) + 1


def rules_of(machine: type[Any]) -> list[str]:
    """The names of ``machine``'s rules (not its initializers)."""
    setup = getattr(machine, "setup_state", None)  # Hypothesis >= 6.131
    rules = setup().rules if setup is not None else machine.rules()
    return sorted({r.function.__name__ for r in rules})


def note_machine(machine: type[Any]) -> None:
    """The state machine about to run (so its events are its, and rules it never fired
    are listed); the next Hypothesis run of this process is counted as this machine's."""
    global _machine_now
    with _lock:
        _machine_now = machine.__name__
        _current.machine(machine.__name__)["rules"] = rules_of(machine)


def take_machine() -> str | None:
    """The machine named by the last :func:`note_machine`, once."""
    global _machine_now
    with _lock:
        name, _machine_now = _machine_now, None
    return name


def add_statistics(stats: Mapping[str, Any]) -> None:
    """Count one Hypothesis run's statistics (for the machine last noted, if any)."""
    machine = take_machine()
    with _lock:
        _current.add_statistics(stats, machine)


def take() -> Tally:
    """What this process counted since the last call (and start afresh)."""
    global _current
    with _lock:
        tally, _current = _current, Tally()
    return tally


# -- the summary ------------------------------------------------------------------------


def _n(value: float) -> str:
    """``1,234``; ``12.3k`` from 10 000; ``1.2M``."""
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"


def _wrap(head: str, items: list[str], width: int, indent: int, max_lines: int,
          sep: str = ", ") -> list[str]:
    """``head`` then ``items`` joined by ``sep``, wrapped at ``width``; at most
    ``max_lines`` lines, the last saying how many items did not fit."""
    lines: list[str] = []
    line = head
    for i, item in enumerate(items):
        join = "" if line == head else sep
        if len(line) + len(join) + len(item) > width and line != head:
            if len(lines) + 1 == max_lines:
                line += f"{sep}… {len(items) - i} more"
                break
            lines.append(line + sep.rstrip())
            line = " " * indent + item
        else:
            line += join + item
    lines.append(line)
    return lines


def _label(name: str) -> str:
    return f"{name:<12} "


def _group_machines(tally: Tally) -> list[tuple[str, dict[str, Any]]]:
    """Machines with the same rules (one factory, several stores or dimensions) as one;
    runs of a machine nobody named join the one group whose rules hold all they fired."""
    groups: dict[tuple[str, ...], tuple[list[str], dict[str, Any]]] = {}
    by_examples = sorted(tally.machines, key=lambda n: (
        n == UNNAMED, -tally.machines[n]["examples"], n))
    for name in by_examples:
        m = tally.machines[name]
        if name == UNNAMED:
            fired = set(m["fired"]) | set(m["ran"])
            homes = [key for key in groups if fired <= set(key)]
            if len(homes) == 1:
                Tally(machines={"_": groups[homes[0]][1]}).merge({"machines": {"_": {
                    **m, "rules": []}}})
                continue
        key = tuple(m["rules"]) if m["rules"] else (name,)
        names, total = groups.setdefault(key, ([], _machine()))
        names.append(name)
        Tally(machines={"_": total}).merge({"machines": {"_": m}})
    out = []
    for names, total in sorted(groups.values(), key=lambda g: -g[1]["examples"]):
        label = names[0] + (f" (+{len(names) - 1})" if len(names) > 1 else "")
        out.append((label, total))
    return out


def _machine_lines(label: str, m: dict[str, Any], width: int, budget: int) -> list[str]:
    exact = bool(m["ran"])
    per = m["ran"] if exact else m["fired"]
    rules = m["rules"] or sorted(per)
    fired = [r for r in rules if per.get(r)]
    never = [r for r in rules if not per.get(r)]
    runs = f"{_n(m['runs'])} run{'s' if m['runs'] != 1 else ''}, {_n(m['examples'])} examples"
    if not per:
        return [f"{label}: {runs}; rules not counted (they record no '{RULE}NAME' event)"]
    unit = "times run" if exact else "examples each ran in"
    known = f"{len(fired)} of {len(rules)} rules fired" if m["rules"] else (
        f"{len(fired)} rules fired (machine not named: holes unknown)")
    head = f"{label}: {runs}; {known} ({unit}, rarest first):"
    items = [f"{r} {_n(per[r])}" for r in sorted(fired, key=lambda r: (per[r], r))]
    lines = [head, *_wrap("  ", items, width, 2, max(1, budget - 2))]
    if never:
        lines.append(f"  NEVER FIRED (a hole): {', '.join(never)}")
    return lines


def _store_line(tally: Tally) -> str | None:
    parts = []
    records = tally.highest.get("target: records", tally.highest.get("largest store"))
    if records is not None:
        parts.append(f"largest {_n(records)} records")
    occurred = tally.occurred  # rule events included
    exact = any(k.startswith(p) for k in occurred for ps in FIGURES.values() for p in ps)
    source = occurred if exact else tally.events
    figures = {name: sum(n for k, n in source.items() if k.startswith(prefixes))
               for name, prefixes in FIGURES.items()}
    if not exact and not any(figures.values()):
        return f"store        {parts[0]}" if parts else None
    if exact:
        parts.append(f"{_n(figures['growths'])} growths")
        parts.append(f"{_n(figures['reopens'])} reopens ({_n(figures['abandoned reopens'])} "
                     "abandoned)")
        parts.append(f"{_n(figures['compactions'])} compactions")
        return "store        " + ", ".join(parts)
    counted = (f"examples with: growth {_n(figures['growths'])}, reopen "
               f"{_n(figures['reopens'])} (abandoned {_n(figures['abandoned reopens'])}), "
               f"compaction {_n(figures['compactions'])}")
    return "store        " + "; ".join([*parts, counted])


def _rarest(tally: Tally, width: int) -> list[str]:
    ours = {e: n for e, n in tally.events.items() if not e.startswith(RULE)}
    if not ours:
        return []
    rare = sorted(ours.items(), key=lambda kv: (kv[1], kv[0]))[:5]
    items = [f"{e} ({_n(n)})" for e, n in rare]
    return _wrap(_label("rarest"), items, width, 13, 3, sep=" · ")


def _hypothesis_line(tally: Tally) -> str | None:
    c = tally.counts
    if not c.get("hypothesis: runs"):
        return None
    steps = sum(sum(m["ran"].values()) for m in tally.machines.values())
    tests = c.get("hypothesis: tests", 0)
    parts = [f"{_n(tests)} test{'' if tests == 1 else 's'}",
             f"{_n(c.get('hypothesis: examples', 0))} examples"]
    if steps:
        parts.append(f"{_n(steps)} steps")
    extra = []
    if c.get("hypothesis: replayed"):
        extra.append(f"{_n(c['hypothesis: replayed'])} replayed from the database")
    if c.get("hypothesis: invalid"):
        extra.append(f"{_n(c['hypothesis: invalid'])} invalid")
    if c.get("hypothesis: shrink attempts"):
        extra.append(f"{_n(c['hypothesis: shrink attempts'])} shrink attempts")
    line = _label("hypothesis") + ", ".join(parts)
    return line + (f" ({', '.join(extra)})" if extra else "")


def _concurrency_line(tally: Tally) -> str | None:
    c, h = tally.counts, tally.highest
    parts = []
    histories = c.get("operations per history", 0)
    if histories:
        mean = c.get("operations per history: sum", 0) / histories
        parts.append(f"{_n(histories)} histories checked ({mean:.0f} operations on "
                     f"average, at most {_n(h.get('operations per history', 0))})")
    kinds = {k[len("schedules: "):]: n for k, n in c.items() if k.startswith("schedules: ")}
    if kinds:
        split = ", ".join(f"{_n(n)} {'PCT' if k == 'pct' else k}" for k, n in sorted(kinds.items()))
        parts.append(f"{_n(sum(kinds.values()))} schedules ({split})")
    elif c.get("schedules"):
        parts.append(f"{_n(c['schedules'])} seeded schedules")
    if c.get("hot-id rounds"):
        parts.append(f"{_n(c['hot-id rounds'])} hot-id rounds")
    return _label("concurrency") + ", ".join(parts) if parts else None


def _crash_lines(tally: Tally, width: int) -> list[str]:
    c = {k[len("crash: "):]: n for k, n in tally.counts.items() if k.startswith("crash: ")}
    if not c:
        return []
    items = []
    if "kill rounds" in c or "kills" in c:
        rate = (f" ({c.get('kills', 0) / c['kill seconds']:.1f}/s)"
                if c.get("kill seconds") else "")
        kills = [f"{_n(c[k])} {k}" for k in ("kill rounds", "kills") if k in c]
        items.append(", ".join(kills) + rate)
    if "power-loss images" in c or "power-loss crash points" in c:
        distinct = ", ".join(
            ([f"{_n(c['distinct images opened'])} distinct"] if "distinct images opened" in c
             else []) + ([f"{c.get('power-loss images', 0) / c['power-loss seconds']:.0f}/s"]
                         if c.get("power-loss seconds") else []))
        distinct = f" ({distinct})" if distinct else ""
        items.append(f"{_n(c.get('power-loss crash points', 0))} crash points, "
                     f"{_n(c.get('power-loss images', 0))} power-loss images{distinct}, "
                     f"{_n(c.get('power-loss violations', 0))} violations")
    for key in ("injected faults", "file mutations"):
        if key in c:
            items.append(f"{_n(c[key])} {key}")
    return _wrap(_label("crash"), items, width, 13, 3, sep="; ")


def render(tally: Tally, width: int = 100, notes: Iterable[str] = (),
           max_lines: int = 25) -> list[str]:
    """The summary's lines (the first is the title); at most ``max_lines``."""
    width = max(60, width)
    fixed: list[str] = []
    for line in (_hypothesis_line(tally), _store_line(tally)):
        if line:
            fixed.append(line)
    rarest = _rarest(tally, width)
    tail: list[str] = []
    line = _concurrency_line(tally)
    if line:
        tail.append(line)
    tail += _crash_lines(tally, width)
    tail += [note for note in notes]
    budget = max_lines - 1 - len(fixed) - len(rarest) - len(tail)
    machines: list[str] = []
    groups = _group_machines(tally)
    for i, (label, m) in enumerate(groups):
        share = max(2, (budget - len(machines)) // (len(groups) - i))
        machines += _machine_lines(label, m, width, share)
    lines = ["warmtier: what this run exercised", *fixed[:1], *machines, *fixed[1:], *rarest,
             *tail]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], f"… {len(lines) - max_lines + 1} more lines"]
    return lines
