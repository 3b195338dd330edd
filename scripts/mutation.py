#!/usr/bin/env python3
"""Mutation testing of one pure module at a time, against its fast tests.

Usage::

    python scripts/mutation.py daphne/_ws_state.py      # or daphne._ws_state
    python scripts/mutation.py --list                   # the modules it knows
    python scripts/mutation.py daphne/_ws_state.py --diff   # survivors' diffs too
    python scripts/mutation.py --all --fail-under 90        # every module, as tox -e mutation

mutmut 3 (configured under ``[tool.mutmut]`` in ``pyproject.toml``) mutates
every module it is given and runs the tests it is told to run. Running the
whole suite per mutant would take days, so each module is measured against
the fast (unit and protocol tier) test files that state its behaviour,
listed in ``FAST_TESTS`` below: add a module there to measure it.

mutmut reads its configuration from the ``pyproject.toml`` of the directory
it runs in, so each run happens in a scratch directory,
``.mutation/<module>/``: links to the packages and the tests, and a copy of
``pyproject.toml`` whose ``[tool.mutmut]`` table gains ``only_mutate`` (this
module) and ``pytest_add_cli_args_test_selection`` (its tests). Each run
starts afresh, so the score printed is never an old one. Afterwards
``cd .mutation/<module> && mutmut browse`` shows every mutant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutation"
PACKAGES = ("asgi", "asgi_redis", "channels", "daphne")

#: Module -> the fast test files that state its behaviour. Unit and protocol
#: tiers only: a mutant is run once per test that covers it, so integration
#: tests (real processes, seconds each) would make a run take hours.
FAST_TESTS: dict[str, list[str]] = {
    "asgi/www.py": [
        "tests/asgi/test_www.py",
        "tests/daphne/test_ws_state.py",
        "tests/daphne/test_http_state.py",
    ],
    "daphne/_http_state.py": [
        "tests/daphne/test_http_state.py",
        "tests/daphne/test_body_upload.py",
    ],
    "daphne/_ws_state.py": ["tests/daphne/test_ws_state.py", "tests/daphne/test_lease.py"],
    "daphne/_fair_queue.py": ["tests/daphne/test_fair_queue.py"],
    "daphne/_scope.py": ["tests/daphne/test_scope.py"],
    "daphne/_deadlines.py": ["tests/daphne/test_deadlines.py"],
    "daphne/_ws_frames.py": ["tests/daphne/test_ws_frames.py"],
    "asgi_redis/_codec.py": ["tests/asgi_redis/test_config.py"],
    "asgi_redis/_resp.py": ["tests/asgi_redis/test_resp.py"],
    "asgi_redis/_groups.py": [
        "tests/asgi_redis/test_config.py",
        "tests/asgi_redis/test_layout.py",
        "tests/asgi_redis/test_faults.py",
        "tests/asgi_redis/test_conformance.py",
    ],
    "channels/routing.py": ["tests/channels/core/test_routing.py"],
    "channels/_ordering.py": ["tests/channels/features/test_ordering.py"],
}

#: Modules whose tests use the Django test database: run one mutant at a time.
ONE_CHILD = {"channels/_ordering.py"}

#: mutmut's verdicts that count as the tests noticing the mutant (a mutant
#: that hangs or crashes the tests is noticed too). The others, "survived",
#: "no tests", "suspicious", "skipped", "not checked", count against.
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def module_path(name: str) -> str:
    """``daphne._ws_state`` or ``daphne/_ws_state.py`` -> ``daphne/_ws_state.py``."""
    if not name.endswith(".py"):
        name = name.replace(".", "/") + ".py"
    return name


def mutant_prefix(path: str) -> str:
    """The prefix of the module's mutant names (``daphne._ws_state.``)."""
    return path.removesuffix(".py").replace("/", ".") + "."


def prepare(path: str, tests: list[str]) -> Path:
    """A fresh scratch directory in which mutmut sees only this module's setup."""
    work = SCRATCH / path.removesuffix(".py").replace("/", ".")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # mutmut copies these into mutants/ (the tests as part of its defaults)
    for name in (*PACKAGES, "tests"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    if "pytest_add_cli_args_test_selection" in tomllib.loads(text)["tool"]["mutmut"]:
        raise SystemExit("list a module's tests in FAST_TESTS, not in pyproject.toml")
    # JSON lists of strings are TOML arrays
    extra = (
        f"only_mutate = {json.dumps([path])}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
    )
    text = re.sub(r"(?m)^\[tool\.mutmut\]\n", lambda m: m.group(0) + extra, text, count=1)
    (work / "pyproject.toml").write_text(text, "utf-8")
    return work


def mutmut(work: Path, *args: str, capture: bool = False) -> str:
    """Run the mutmut of this interpreter's environment in ``work``."""
    command = [sys.executable, "-m", "mutmut", *args]
    result = subprocess.run(command, cwd=work, check=not capture, text=True, capture_output=capture)
    if capture and result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.returncode)
    return result.stdout or ""


def report(work: Path, path: str, show_diff: bool) -> tuple[int, int]:
    """Print killed/total and the survivors; return (killed, total)."""
    prefix = mutant_prefix(path)
    statuses: dict[str, str] = {}
    for line in mutmut(work, "results", "--all", "true", capture=True).splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith(prefix):
            statuses[name] = status
    counts = Counter(statuses.values())
    killed = sum(n for status, n in counts.items() if status in KILLED)
    total = len(statuses)
    score = 100 * killed / total if total else 0.0
    print(f"\n{path}: {killed}/{total} killed ({score:.1f} %)")
    print("  " + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    survivors = sorted(name for name, status in statuses.items() if status not in KILLED)
    if survivors:
        print("Not killed:")
    for name in survivors:
        print(f"  {name}: {statuses[name]}")
        if show_diff:
            diff = mutmut(work, "show", name, capture=True)
            print("\n".join("      " + line for line in diff.splitlines()[1:]))
    return killed, total


def main(argv: list[str] | None = None) -> int:
    """Run (or report) the modules asked for; 1 if one scores under ``--fail-under``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="e.g. daphne/_ws_state.py or daphne._ws_state")
    parser.add_argument("--all", action="store_true", help="every module in FAST_TESTS, in turn")
    parser.add_argument("--list", action="store_true", help="list the known modules and tests")
    parser.add_argument("--diff", action="store_true", help="print each survivor's diff")
    parser.add_argument(
        "--max-children", type=int, default=os.cpu_count() or 2, help="parallel mutant runs"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="print the results of the last run again"
    )
    parser.add_argument(
        "--fail-under", type=float, default=0.0, help="exit 1 if a module kills less (%%)"
    )
    args = parser.parse_args(argv)
    if args.list or not (args.modules or args.all):
        for path, tests in FAST_TESTS.items():
            print(f"{path}: {' '.join(tests)}")
        return 0
    paths = list(FAST_TESTS) if args.all else [module_path(name) for name in args.modules]
    unknown = [path for path in paths if path not in FAST_TESTS]
    if unknown:
        parser.error(f"no fast tests are listed for {', '.join(unknown)}; add to FAST_TESTS")
    scores: dict[str, float | None] = {}
    for path in paths:
        if args.report_only:
            work = SCRATCH / path.removesuffix(".py").replace("/", ".")
            if not (work / "mutants").is_dir():
                print(f"\n{path}: not run yet")
                scores[path] = None
                continue
        else:
            work = prepare(path, FAST_TESTS[path])
            started = time.monotonic()
            # the Django test database is named per process when settings are
            # imported, and mutmut forks every child from one: children running
            # such tests at once would share (and break) one database
            children = 1 if path in ONE_CHILD else args.max_children
            mutmut(work, "run", "--max-children", str(children))
            print(f"\n{path}: mutmut ran {time.monotonic() - started:.0f} s")
        killed, total = report(work, path, args.diff)
        scores[path] = 100 * killed / total if total else 100.0
    if len(scores) > 1:
        print("\nSummary:")
        for path, score in scores.items():
            print(f"  {path}: {'not run' if score is None else f'{score:.1f} %'}")
    low = [path for path, score in scores.items() if score is None or score < args.fail_under]
    if low:
        print(f"\nUnder {args.fail_under:g} %: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
