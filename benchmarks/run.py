"""Benchmarks asynq side by side with its peers; prints and saves the table.

    python benchmarks/run.py                    full run (a few minutes)
    python benchmarks/run.py --quick            smoke run (seconds, small sizes)
    python benchmarks/run.py --impl ours --impl floor --quick --out /tmp/b.md
    python benchmarks/run.py --profile chain    cProfile of ours on a workload

Each implementation runs in its own processes and its own virtualenv, built
here on first use under benchmarks/.envs/ (rebuilt when its recipe changes):

- ours:    this repository's seven packages, editable, with --no-deps (so no
           name of ours is ever fetched from the index: PyPI's ``asynq`` is
           Quora's), plus their third-party dependencies read from the
           packages' pyproject.toml files;
- asynq16: Quora's asynq==1.6.0, compiled wheels only, in an environment
           that never tests this repository;
- asyncio: the standard library plus aiodataloader for the batches;
- floor:   a minimal generator trampoline (floor.py), no packages.

Timing is interleaved: every round runs each workload in each
implementation (in a rotating order), so a noisy spell on the shared machine
hits all of them; the reported figure is the median of all samples. The
report (markdown, plus the raw samples as JSON) goes to
benchmarks/results/latest.md, or quick.md for --quick, or --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORKER = BENCH_DIR / "worker.py"
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_ENVS_DIR = BENCH_DIR / ".envs"

# Bump when the way environments are built changes: stale ones are rebuilt.
ENV_RECIPE_VERSION = 1

IMPLS = ("ours", "asynq16", "asyncio", "floor")
IMPL_TITLES = {
    "ours": "ours",
    "asynq16": "asynq 1.6",
    "asyncio": "asyncio",
    "floor": "floor",
}
BASELINE = "asynq16"
WORKLOADS = ("chain", "fanout", "batch1", "batch2", "sync_const", "sync_sub", "resolvers")
OUR_PACKAGES = (
    "asynq-core",
    "asynq-batching",
    "asynq-contexts",
    "asynq-tools",
    "asynq-mock",
    "asynq-generator",
    "asynq",
)
PEER_REQUIREMENTS = {
    "asynq16": ["asynq==1.6.0"],
    "asyncio": ["aiodataloader==0.4.3"],
    "floor": [],
}

OP_MEANING = {
    "chain": "one level of the chain (one task)",
    "fanout": "one child task",
    "batch1": "one task fetching one key",
    "batch2": "one answer (two tasks, two keys)",
    "sync_const": "one synchronous call",
    "sync_sub": "one synchronous call",
    "resolvers": "one load (N gathered resolvers, two chained loads each)",
}

# Issue 6's targets: (workloads, highest allowed ratio ours / asynq 1.6).
TARGETS = (
    (("chain", "fanout", "sync_const", "sync_sub"), 0.5),
    (("batch1", "batch2"), 0.6),
)
MEMORY_TARGET = 0.5
# Issue 14's: a load under asyncio costs at most this much of aiodataloader's,
# at every N, and at the largest N at most FLATNESS times what it costs at the smallest.
RESOLVERS_TARGET = 0.5
FLATNESS_TARGET = 1.5


@dataclass(frozen=True)
class Plan:
    """How much to measure: sizes per workload, rounds and samples."""

    name: str
    sizes: dict[str, tuple[int, ...]]
    rounds: int
    samples_per_round: int
    min_sample_ms: float
    memory_n: int
    memory_rounds: int
    worker_timeout_s: float


FULL = Plan(
    name="full",
    sizes={
        "chain": (10, 100, 1000),
        "fanout": (10, 100, 1000, 10_000),
        "batch1": (10, 100, 1000),
        "batch2": (10, 100, 1000),
        "sync_const": (10, 100, 1000),
        "sync_sub": (10, 100, 1000),
        "resolvers": (100, 1000, 10_000),
    },
    rounds=5,
    samples_per_round=4,
    min_sample_ms=20.0,
    memory_n=100_000,
    memory_rounds=2,
    worker_timeout_s=900.0,
)
QUICK = Plan(
    name="quick",
    sizes={workload: (10, 100) for workload in WORKLOADS},
    rounds=1,
    samples_per_round=3,
    min_sample_ms=2.0,
    memory_n=10_000,
    memory_rounds=1,
    worker_timeout_s=120.0,
)


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


# -- environments -----------------------------------------------------------------


def _read_pyproject(path: Path) -> dict[str, Any]:
    """The project name, dependencies and build requirements of a pyproject.toml."""
    text = path.read_text(encoding="utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: our files are simple enough for regexes
        name = re.search(r'^name\s*=\s*"([^"]+)"', text, re.MULTILINE)

        def strings_of(key: str) -> list[str]:
            block = re.search(rf"^{key}\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
            return re.findall(r'"([^"]+)"', block.group(1)) if block else []

        return {
            "name": name.group(1) if name else path.parent.name,
            "dependencies": strings_of("dependencies"),
            "build_requires": strings_of("requires"),
        }
    data = tomllib.loads(text)
    return {
        "name": data["project"]["name"],
        "dependencies": data["project"].get("dependencies", []),
        "build_requires": data.get("build-system", {}).get("requires", []),
    }


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    if match is None:
        raise BenchError(f"cannot read the package name of requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def our_install_recipe() -> tuple[list[str], list[str]]:
    """(third-party requirements, package directories) of this repository's packages."""
    directories = [REPO / "packages" / name for name in OUR_PACKAGES]
    projects = []
    for directory in directories:
        pyproject = directory / "pyproject.toml"
        if not pyproject.exists():
            raise BenchError(f"our package {directory.name} has no {pyproject}")
        projects.append(_read_pyproject(pyproject))
    ours = {_requirement_name(project["name"]) for project in projects}
    third_party: set[str] = set()
    for project in projects:
        for requirement in project["dependencies"] + project["build_requires"]:
            if _requirement_name(requirement) not in ours:
                third_party.add(requirement)
    # hatchling builds editable wheels with `editables`, which pip would fetch
    # itself only with build isolation (off here: offline rebuilds, one resolve).
    third_party.add("editables")
    return sorted(third_party), [str(directory) for directory in directories]


def _env_python(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def _run_checked(command: list[str], what: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip().splitlines()
        raise BenchError(
            f"{what} failed (exit {completed.returncode}):\n" + "\n".join(output[-25:])
        )


def ensure_env(impl: str, envs_dir: Path, rebuild: bool) -> Path:
    """The interpreter of ``impl``'s virtualenv, built (or rebuilt if stale) first."""
    if impl == "ours":
        requirements, editable = our_install_recipe()
    else:
        requirements, editable = PEER_REQUIREMENTS[impl], []
    recipe = {
        "recipe_version": ENV_RECIPE_VERSION,
        "python": sys.version,
        "base_python": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "requirements": requirements,
        "editable": editable,
    }
    env_dir = envs_dir / impl
    stamp = env_dir / "bench-recipe.json"
    python = _env_python(env_dir)
    if not rebuild and python.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == recipe:
                return python
        except ValueError:
            pass  # a damaged stamp: rebuild
    log(f"building the {impl} environment in {env_dir} ...")
    if env_dir.exists():
        shutil.rmtree(env_dir)
    venv_command = [sys.executable, "-m", "venv", str(env_dir)]
    if not requirements and not editable:
        venv_command.insert(3, "--without-pip")
    _run_checked(venv_command, f"creating the {impl} virtualenv")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if requirements:
        only_binary = ["--only-binary", "asynq"] if impl == "asynq16" else []
        _run_checked(pip + only_binary + requirements, f"installing {requirements} for {impl}")
    if editable:
        editable_args = [arg for directory in editable for arg in ("-e", directory)]
        _run_checked(
            [*pip, "--no-deps", "--no-build-isolation", *editable_args],
            f"installing this repository's packages (editable) for {impl}",
        )
    stamp.write_text(json.dumps(recipe, indent=2), encoding="utf-8")
    return python


# -- running workers ------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def call_worker(python: Path, impl: str, args: list[str], timeout: float) -> str:
    """Runs worker.py for ``impl`` and returns its standard output."""
    command = [str(python), "-E", "-s", str(WORKER), "--impl", impl, *args]
    try:
        completed = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"{impl}: worker {' '.join(args)} took more than {timeout:.0f} s"
        ) from None
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise BenchError(
            f"{impl}: worker {' '.join(args)} failed (exit {completed.returncode}):\n{tail}"
        )
    return completed.stdout


def call_worker_json(python: Path, impl: str, args: list[str], timeout: float) -> Any:
    output = call_worker(python, impl, args, timeout).strip().splitlines()
    if not output:
        raise BenchError(f"{impl}: worker {' '.join(args)} printed nothing")
    return json.loads(output[-1])


@dataclass
class Results:
    """Everything measured in one run, as saved to the JSON file."""

    plan: Plan
    impls: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    # (workload, n, impl) -> samples in microseconds per operation
    samples: dict[tuple[str, int, str], list[float]] = field(default_factory=dict)
    peak_bytes: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # (mode, impl) -> bytes per task, one per memory round
    memory: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def supports(self, impl: str, workload: str) -> bool:
        return workload in self.info.get(impl, {}).get("workloads", ())

    def median(self, workload: str, n: int, impl: str) -> float | None:
        samples = self.samples.get((workload, n, impl))
        return statistics.median(samples) if samples else None

    def memory_median(self, mode: str, impl: str) -> float | None:
        values = [v for v in self.memory.get((mode, impl), []) if v is not None]
        return statistics.median(values) if values else None


def measure(plan: Plan, impls: list[str], pythons: dict[str, Path], results: Results) -> None:
    for round_index in range(plan.rounds):
        # Rotate the order so that no implementation always runs first or last.
        shift = round_index % len(impls)
        order = impls[shift:] + impls[:shift]
        for workload in WORKLOADS:
            log(f"[round {round_index + 1}/{plan.rounds}] {workload}: {' '.join(order)}")
            for impl in order:
                if not results.supports(impl, workload):
                    continue
                args = [
                    "time",
                    "--workload",
                    workload,
                    "--sizes",
                    ",".join(map(str, plan.sizes[workload])),
                    "--samples",
                    str(plan.samples_per_round),
                    "--min-sample-ms",
                    str(plan.min_sample_ms),
                ]
                if round_index == 0:
                    args.append("--trace-memory")
                try:
                    report = call_worker_json(pythons[impl], impl, args, plan.worker_timeout_s)
                except BenchError as error:
                    results.errors.append(str(error))
                    log(f"  ERROR {error}")
                    continue
                for point in report["points"]:
                    key = (workload, point["n"], impl)
                    results.samples.setdefault(key, []).extend(point["us_per_op"])
                    if "peak_bytes" in point:
                        results.peak_bytes[key] = point["peak_bytes"]
    for round_index in range(plan.memory_rounds):
        log(f"[memory {round_index + 1}/{plan.memory_rounds}] fanout of {plan.memory_n:,} tasks")
        for impl in impls:
            for mode in ("tracemalloc", "rss"):
                args = ["memory", "--mode", mode, "--n", str(plan.memory_n)]
                try:
                    report = call_worker_json(pythons[impl], impl, args, plan.worker_timeout_s)
                except BenchError as error:
                    results.errors.append(str(error))
                    log(f"  ERROR {error}")
                    continue
                results.memory.setdefault((mode, impl), []).append(report["bytes_per_task"])


# -- the report -------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]], numeric_from: int) -> list[str]:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ratio_columns(impls: list[str]) -> list[tuple[str, str]]:
    """(numerator, denominator) pairs shown as ratio columns."""
    pairs = []
    if BASELINE in impls:
        pairs += [(impl, BASELINE) for impl in impls if impl != BASELINE]
    if "ours" in impls and "asyncio" in impls:
        pairs.append(("ours", "asyncio"))
    if "floor" in impls and "asyncio" in impls:
        pairs.append(("floor", "asyncio"))
    return pairs


def _describe_impls(results: Results, git: str) -> list[str]:
    lines = []
    for impl in results.impls:
        info = results.info.get(impl)
        if info is None:
            lines.append(f"- {IMPL_TITLES[impl]}: not measured (its environment failed)")
            continue
        if impl == "ours":
            text = f"this repository ({git}), editable install"
        elif impl == "asynq16":
            compiled = "compiled (Cython) wheel" if info.get("compiled") else "NOT compiled"
            text = f"Quora's asynq {info.get('asynq_version')} from PyPI, {compiled}"
        elif impl == "asyncio":
            text = f"asyncio with aiodataloader {info.get('aiodataloader_version')}"
        else:
            text = "the trampoline of benchmarks/floor.py (no batching: no batch rows)"
        lines.append(f"- {IMPL_TITLES[impl]}: {text}; Python {info.get('python')}")
    return lines


def _git_description() -> str:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "packages"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "git not available"
    if not revision:
        return "not a git checkout"
    return f"git {revision}" + (" plus uncommitted changes under packages/" if dirty else "")


def render_markdown(results: Results, command: str, elapsed_s: float) -> str:
    plan, impls = results.plan, results.impls
    git = _git_description()
    titles = [IMPL_TITLES[impl] for impl in impls]
    ratio_pairs = _ratio_columns(impls)
    total_samples = plan.rounds * plan.samples_per_round
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# asynq benchmarks",
        "",
        f"`{command}` — {plan.name} run, {now}, {elapsed_s:.0f} s; "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}.",
        "",
        *_describe_impls(results, git),
        "",
        "## Time: microseconds per operation (median; lower is better)",
        "",
        f"Median of {total_samples} samples ({plan.rounds} round(s) x {plan.samples_per_round}, "
        f"implementations interleaved), each sample at least {plan.min_sample_ms:g} ms of "
        "back-to-back runs divided by runs and N; GC on. One operation is "
        + "; ".join(f"{w}: {OP_MEANING[w]}" for w in WORKLOADS)
        + ".",
        "",
    ]
    header = ["workload", "N", *titles]
    header += [f"{IMPL_TITLES[a]} / {IMPL_TITLES[b]}" for a, b in ratio_pairs]
    rows = []
    for workload in WORKLOADS:
        for n in plan.sizes[workload]:
            medians = {impl: results.median(workload, n, impl) for impl in impls}
            row = [workload, f"{n:,}", *(_fmt(medians[impl]) for impl in impls)]
            row += [_fmt_ratio(_ratio(medians[a], medians[b])) for a, b in ratio_pairs]
            rows.append(row)
    lines += _table(header, rows, numeric_from=1)

    lines += [
        "",
        f"## Memory: peak bytes per task of a fanout of {plan.memory_n:,} tasks (lower is better)",
        "",
        "tracemalloc: peak of traced allocations during the run (it sees every "
        "allocation through Python's allocators, those of C extensions such as the "
        "compiled asynq 1.6 included). RSS: growth of the process's peak resident "
        "size over its size before the run, in a fresh process. Median of "
        f"{plan.memory_rounds} run(s) each. Both include the list of results.",
        "",
    ]
    memory_header = ["measure", *titles]
    memory_header += [f"{IMPL_TITLES[a]} / {IMPL_TITLES[b]}" for a, b in ratio_pairs]
    memory_rows = []
    for mode in ("tracemalloc", "rss"):
        values = {impl: results.memory_median(mode, impl) for impl in impls}
        row = [mode, *(_fmt(values[impl]) for impl in impls)]
        row += [_fmt_ratio(_ratio(values[a], values[b])) for a, b in ratio_pairs]
        memory_rows.append(row)
    lines += _table(memory_header, memory_rows, numeric_from=1)

    lines += [
        "",
        "## Peak memory of one run of size N, KiB (tracemalloc)",
        "",
        "For sync_const and sync_sub this is the peak of one synchronous call, whatever N.",
        "",
    ]
    peak_rows = []
    for workload in WORKLOADS:
        for n in plan.sizes[workload]:
            values = {}
            for impl in impls:
                peak = results.peak_bytes.get((workload, n, impl))
                values[impl] = None if peak is None else peak / 1024
            peak_rows.append([workload, f"{n:,}", *(_fmt(values[impl]) for impl in impls)])
    lines += _table(["workload", "N", *titles], peak_rows, numeric_from=1)

    if "ours" in impls and BASELINE in impls:
        lines += ["", "## Targets of issue 6 (ours / asynq 1.6, worst N)", ""]
        lines += _table(
            ["workloads", "target", "worst ratio", "met"],
            _target_rows(results),
            numeric_from=1,
        )
    if results.errors:
        lines += ["", "## Errors", ""]
        lines += ["```", *"\n\n".join(results.errors).splitlines(), "```"]
    lines += [
        "",
        "Equivalents: asyncio awaits each level of a chain as a Task, gathers lists, awaits a "
        "finished asyncio Future for a ConstFuture, uses a per-request aiodataloader "
        "DataLoader for a batch and `loop.run_until_complete` on one long-lived loop for "
        "a synchronous call; see benchmarks/README.md.",
        "",
    ]
    return "\n".join(lines)


def _target_rows(results: Results) -> list[list[str]]:
    rows = []
    checks = [(workloads, limit, BASELINE) for workloads, limit in TARGETS]
    if "asyncio" in results.impls:
        checks.append((WORKLOADS, 1.0, "asyncio"))
    for workloads, limit, against in checks:
        worst: tuple[float, str] | None = None
        for workload in workloads:
            for n in results.plan.sizes[workload]:
                ratio = _ratio(
                    results.median(workload, n, "ours"), results.median(workload, n, against)
                )
                if ratio is not None and (worst is None or ratio > worst[0]):
                    worst = (ratio, f"{workload} N={n:,}")
        label = ", ".join(workloads) if against == BASELINE else "all, against asyncio"
        if worst is None:
            rows.append([label, f"≤ {limit:g}", "—", "—"])
        else:
            met = "yes" if worst[0] <= limit else "no"
            rows.append([label, f"≤ {limit:g}", f"{worst[0]:.3f} ({worst[1]})", met])
    sizes = results.plan.sizes["resolvers"]
    if "asyncio" in results.impls:
        worst = None
        for n in sizes:
            ratio = _ratio(
                results.median("resolvers", n, "ours"), results.median("resolvers", n, "asyncio")
            )
            if ratio is not None and (worst is None or ratio > worst[0]):
                worst = (ratio, f"N={n:,}")
        rows.append(
            [
                "resolvers, against asyncio",
                f"≤ {RESOLVERS_TARGET:g}",
                "—" if worst is None else f"{worst[0]:.3f} ({worst[1]})",
                "—" if worst is None else ("yes" if worst[0] <= RESOLVERS_TARGET else "no"),
            ]
        )
    largest, smallest = sizes[-1], sizes[0]
    flatness = _ratio(
        results.median("resolvers", largest, "ours"), results.median("resolvers", smallest, "ours")
    )
    rows.append(
        [
            f"resolvers, ours at N={sizes[-1]:,} / at N={sizes[0]:,}",
            f"≤ {FLATNESS_TARGET:g}",
            _fmt_ratio(flatness),
            "—" if flatness is None else ("yes" if flatness <= FLATNESS_TARGET else "no"),
        ]
    )
    memory_ratio = _ratio(
        results.memory_median("tracemalloc", "ours"), results.memory_median("tracemalloc", BASELINE)
    )
    rows.append(
        [
            "memory per task (tracemalloc)",
            f"≤ {MEMORY_TARGET:g}",
            _fmt_ratio(memory_ratio),
            "—" if memory_ratio is None else ("yes" if memory_ratio <= MEMORY_TARGET else "no"),
        ]
    )
    return rows


def results_json(results: Results, command: str) -> dict[str, Any]:
    points = []
    for (workload, n, impl), samples in sorted(results.samples.items()):
        points.append(
            {
                "workload": workload,
                "n": n,
                "impl": impl,
                "median_us_per_op": statistics.median(samples),
                "min_us_per_op": min(samples),
                "max_us_per_op": max(samples),
                "samples_us_per_op": samples,
                "peak_bytes": results.peak_bytes.get((workload, n, impl)),
            }
        )
    memory = [
        {"mode": mode, "impl": impl, "bytes_per_task": values}
        for (mode, impl), values in sorted(results.memory.items())
    ]
    return {
        "command": command,
        "plan": dataclasses.asdict(results.plan),
        "impls": results.info,
        "points": points,
        "memory": memory,
        "errors": results.errors,
    }


# -- entry point --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark asynq (ours) against asynq 1.6, asyncio and a floor.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few samples")
    parser.add_argument(
        "--impl",
        action="append",
        choices=IMPLS,
        help="implementation to measure (repeat; default: all)",
    )
    parser.add_argument("--out", type=Path, help="markdown report path (JSON beside it)")
    parser.add_argument(
        "--envs-dir", type=Path, default=DEFAULT_ENVS_DIR, help="where the virtualenvs live"
    )
    parser.add_argument("--rebuild-envs", action="store_true", help="rebuild the virtualenvs first")
    parser.add_argument(
        "--profile",
        choices=WORKLOADS,
        metavar="WORKLOAD",
        help="print a cProfile of the workload instead (default impl: ours)",
    )
    return parser.parse_args(argv)


def run_profile(args: argparse.Namespace) -> int:
    impls = args.impl or ["ours"]
    n = max(FULL.sizes[args.profile])
    for impl in impls:
        python = ensure_env(impl, args.envs_dir, args.rebuild_envs)
        profile_args = ["profile", "--workload", args.profile, "--n", str(n)]
        print(call_worker(python, impl, profile_args, FULL.worker_timeout_s))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/run.py" + "".join(
        f" {arg}" for arg in (sys.argv[1:] if argv is None else argv)
    )
    try:
        if args.profile:
            return run_profile(args)
    except BenchError as error:
        log(f"run.py: {error}")
        return 1
    plan = QUICK if args.quick else FULL
    impls = list(dict.fromkeys(args.impl or IMPLS))
    results = Results(plan=plan, impls=impls)
    started = time.perf_counter()
    pythons: dict[str, Path] = {}
    for impl in impls:
        try:
            pythons[impl] = ensure_env(impl, args.envs_dir, args.rebuild_envs)
            results.info[impl] = call_worker_json(pythons[impl], impl, ["info"], 300)
        except BenchError as error:
            results.errors.append(str(error))
            log(f"ERROR {error}")
    measured = [impl for impl in impls if impl in results.info]
    measure(plan, measured, pythons, results)
    elapsed = time.perf_counter() - started

    out = args.out or RESULTS_DIR / ("quick.md" if args.quick else "latest.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(results, command, elapsed)
    out.write_text(markdown, encoding="utf-8")
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(results_json(results, command), indent=1), encoding="utf-8")
    print(markdown)
    log(f"saved {out} and {json_path}")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
