"""Training at scale (issue 8, target 4): `kepu train` on 100k / 1M / 10M events (100k items, events/10
users) read from a SQLite store, against `implicit`'s ALS and BPR fitted on the same interaction matrix in
the same run.

Per size, alternately (kepu first on even repeats, implicit first on odd ones), each in its own process
so its peak RSS is its own (`os.wait4` → ru_maxrss):
- kepu: the real `kepu train --seed 0` command (store streamed into event columns → CSR, catalog
  vectors reused from the saved index, `--model auto` validation on a seeded sample of users, final fit,
  bundle). Time, peak RSS, chosen model, served validation NDCG@10 and the phase timings of the manifest.
- implicit: the same CSR (built by kepu's reader and matrix builder; that part is timed apart), then
  `AlternatingLeastSquares` and `BayesianPersonalizedRanking` with kepu's ALS setting (64 factors, 15
  iterations, same regularization and alpha for ALS), one thread like kepu's.
CPU seconds (the child's user + system time) are reported beside wall time: on a shared machine they are
what the code costs, wall time what this run got.

Set-up (never measured): the stores are bulk-loaded and cached by `bench/train_scale_setup.py`, and
`kepu catalog embed` (tfidf-svd, 64 dims) runs once per store, as a deployment does before `kepu train`.
Threads are pinned to 1 (OMP/OPENBLAS/MKL). The data is SYNTHETIC (bench/scale_data.py): the NDCG
column shows validation works at scale, not model quality.

    PYTHONPATH=$PWD .venv/bin/python bench/train_scale.py --quick
    PYTHONPATH=$PWD .venv/bin/python bench/train_scale.py --sizes 100000,1000000,10000000 --json out.json
    PYTHONPATH=$PWD .venv/bin/python bench/train_scale.py --fit-only --sizes 1000000   # kepu ALS / LightFM vs implicit
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENV = {"KEPU_ENCODER": "tfidf-svd", "KEPU_ENCODER_DIM": "64", "KEPU_SEED": "0"}
FACTORS, ITERATIONS = 64, 15
"""kepu's ALS setting (`TrainParams.no_components`, `als_iterations`); the baselines get the same."""


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS GiB, stdout, CPU seconds) of one child process."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    seconds = time.perf_counter() - started
    # communicate() reaped the child; its peak RSS is in the children's rusage (one child at a time)
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss / 2**20, usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, peak, out, cpu


def _spawn(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, str, float]:
    """`_run` in a fresh helper process, so RUSAGE_CHILDREN holds this child only."""
    helper = [sys.executable, __file__, "--measure", json.dumps({"cmd": cmd, "env": env, "timeout": timeout})]
    out = subprocess.run(helper, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["peak_gib"], result["stdout"], result["cpu_seconds"]


def _kepu(store: Path, var_dir: Path, timeout: float) -> dict[str, Any]:
    kepu = str(Path(sys.executable).with_name("kepu"))
    cmd = [kepu, "train", "--seed", "0", "--store-url", f"sqlite:///{store}", "--var-dir", str(var_dir)]
    seconds, peak, out, cpu = _spawn(cmd, ENV, timeout)
    models = var_dir / "models"
    newest = max((p for p in models.iterdir() if (p / "manifest.json").exists()), key=lambda p: p.stat().st_mtime)
    manifest = json.loads((newest / "manifest.json").read_text())
    selection = manifest.get("selection", {})
    figures = selection.get("candidates", {}).get(selection.get("model"), {})
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_gib": round(peak, 2),
        "model": selection.get("model"),
        "reason": selection.get("reason"),
        "final_fit": manifest.get("final_fit", {}),
        "validation_fit_seconds": figures.get("fit_seconds"),
        "messages": selection.get("messages", []),
        "served_ndcg@10": figures.get("served_ndcg@10"),
        "validation_users": figures.get("validation_users"),
        "data_counts": manifest.get("data_counts", {}),
        "timings": manifest.get("timings", {}),
        "train_seconds": manifest.get("train_seconds"),
        "printed_counts": next((line for line in out.splitlines() if line.startswith("data:")), ""),
    }


def _fit(store: Path, models: str, iterations: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--fit-child", str(store), f"--models={models}", f"--iterations={iterations}"]
    seconds, peak, out, cpu = _spawn(cmd, {}, timeout)
    figures = json.loads(out.strip().splitlines()[-1])
    return {**figures, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "peak_gib": round(peak, 2)}


def fit_child(store_path: str, models: list[str], iterations: int) -> None:
    """Build the CSR as kepu does (timed apart), then fit `models` on it, one thread each: "lightfm" is
    kepu's LightFM ranker (user features from the store's users, no item feature columns: identity only),
    "als" / "bpr" are implicit's."""
    with_lightfm = "lightfm" in models
    import implicit
    from threadpoolctl import threadpool_limits

    from content_catalog.store import Store
    from features.event_columns import columns_from_chunks
    from features.interactions import InteractionMatrixBuilder, interactions_from_columns
    from features.user_profiles import UserProfiles
    from recommender.rankers.als import DEFAULTS as ALS_DEFAULTS

    threadpool_limits(1)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    if models == ["frame"]:  # the path training used before: one DataFrame of every event, pandas copies
        with Store(f"sqlite:///{store_path}", migrate=False) as store:
            item_ids = [row[0] for row in store.engine.connect().exec_driver_sql("SELECT id FROM items ORDER BY id")]
            frame = store.events_frame()
        out["read_events_seconds"] = round(time.perf_counter() - started, 1)
        frame = frame.astype({c: object for c in ("event_id", "user_id", "session_id", "item_id", "type")})
        matrix = InteractionMatrixBuilder(half_life_days=30.0).fit_transform(frame, item_ids=item_ids).matrix
        out["read_matrix_seconds"] = round(time.perf_counter() - started, 1)
        out |= {"nnz": int(matrix.nnz), "shape": matrix.shape, "index_dtype": str(matrix.indices.dtype)}
        print(json.dumps(out))
        return
    with Store(f"sqlite:///{store_path}", migrate=False) as store:
        item_ids = [row[0] for row in store.engine.connect().exec_driver_sql("SELECT id FROM items ORDER BY id")]
        events = columns_from_chunks(store.iter_event_chunks())
        out["read_events_seconds"] = round(time.perf_counter() - started, 1)
        out["columns_mib"] = round(events.nbytes() / 2**20)
        mark = time.perf_counter()
        keys = set(events.keys)
        users = UserProfiles.from_rows(row for row in store.iter_user_profiles() if row[0] in keys)
        out["read_users_seconds"] = round(time.perf_counter() - mark, 1)
    mark = time.perf_counter()
    inter = interactions_from_columns(events, item_ids, InteractionMatrixBuilder(half_life_days=30.0))
    matrix = inter.matrix
    del events
    out["csr_seconds"] = round(time.perf_counter() - mark, 1)
    out["read_matrix_seconds"] = round(time.perf_counter() - started, 1)
    out |= {"nnz": int(matrix.nnz), "shape": matrix.shape, "index_dtype": str(matrix.indices.dtype)}
    for name in [m for m in models if m.startswith("kepu-")] + (["lightfm"] if with_lightfm else []):
        import numpy as np
        import scipy.sparse as sp

        from features.user_features import UserFeatureBuilder
        from recommender.rankers import TrainingData, make_ranker
        from recommender.train import TrainParams

        user_x = users.features(inter.user_map.to_list(), UserFeatureBuilder(identity=False, normalize=False).fit([]))
        item_x = sp.csr_matrix((matrix.shape[1], 0), dtype=np.float32)
        ranker = name.removeprefix("kepu-")
        key = "epochs" if ranker == "lightfm" else "iterations"
        params = {**TrainParams().ranker_params(ranker), key: iterations}
        start = time.perf_counter()
        make_ranker(ranker, seed=0, **params).fit(TrainingData(matrix, user_x, item_x))
        out[f"{ranker}_seconds"] = round(time.perf_counter() - start, 1)
    for name, cls in (
        ("als", implicit.cpu.als.AlternatingLeastSquares),
        ("bpr", implicit.cpu.bpr.BayesianPersonalizedRanking),
    ):
        if name not in models:
            continue
        extra = {k: ALS_DEFAULTS[k] for k in ("regularization", "alpha")} if name == "als" else {}
        model = cls(factors=FACTORS, iterations=iterations, num_threads=1, random_state=0, **extra)
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        out[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))


def _setup(cache: Path, data_dir: Path, n_items: int, n_users: int, n_events: int) -> tuple[Path, Path]:
    """Cached store + its saved catalog index (`kepu catalog embed`): set-up, not measured."""
    from bench.train_scale_setup import build_store

    store = build_store(cache, data_dir, n_items, n_users, n_events)
    var_dir = cache / f"var-{store.stem}"
    if not (var_dir / "embedded").exists() and _share_embedding(store, var_dir, cache):
        return store, var_dir
    if not (var_dir / "embedded").exists():
        kepu = str(Path(sys.executable).with_name("kepu"))
        cmd = [kepu, "catalog", "embed", "--store-url", f"sqlite:///{store}", "--var-dir", str(var_dir)]
        subprocess.run(cmd, env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
        (var_dir / "embedded").write_text("ok")
    return store, var_dir


def _share_embedding(store: Path, var_dir: Path, cache: Path) -> bool:
    """Register in `store` an index `kepu catalog embed` saved for another cached store with the same
    catalog (every size copies one items file, so `catalog_version()` matches): embedding 100k items
    takes tens of minutes of set-up, and the vectors would be identical."""
    from content_catalog.store import Store

    spec = ENV["KEPU_ENCODER"]
    with Store(f"sqlite:///{store}", migrate=False) as target:
        version = target.catalog_version()
        if target.vector_index_versions(spec, limit=1):
            return False
        for other in sorted(cache.glob("train-*.sqlite")):
            if other == store or not (cache / f"var-{other.stem}" / "embedded").exists():
                continue
            with Store(f"sqlite:///{other}", migrate=False) as source:
                record = next(iter(source.vector_index_versions(spec, limit=1)), None)
            if record is not None and record.catalog_version == version and Path(record.path).exists():
                target.add_vector_index_version(spec, version, record.path, record.item_count)
                var_dir.mkdir(parents=True, exist_ok=True)
                (var_dir / "embedded").write_text(f"shared: {record.path}")
                return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="event counts, comma-separated")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10k items, 100k events")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--implicit-first", action="store_true", help="start the alternation with the baseline")
    parser.add_argument("--wait-embedding", type=Path, help="set-up: wait for this var dir's embedding, then share it")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/trainscale"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--fit-child", help=argparse.SUPPRESS)
    parser.add_argument("--models", default="als,bpr", help=argparse.SUPPRESS)
    parser.add_argument("--kepu-models", default="kepu-als,lightfm", help="--fit-only: kepu's rankers to fit")
    parser.add_argument("--iterations", type=int, default=ITERATIONS, help="epochs / iterations of every model")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="only the store → event columns → CSR path (time per phase, peak RSS), one process per size",
    )
    parser.add_argument("--frame-max-events", type=int, default=1_000_000, help="--read-only: old path up to here")
    parser.add_argument(
        "--fit-only",
        action="store_true",
        help="no `kepu train`: kepu's LightFM ranker vs ALS/BPR on the same matrix (needs no catalog index)",
    )
    args = parser.parse_args()
    if args.measure:
        spec = json.loads(args.measure)
        seconds, peak, out, cpu = _run(spec["cmd"], spec["env"], spec["timeout"])
        print(json.dumps({"seconds": seconds, "peak_gib": peak, "stdout": out, "cpu_seconds": cpu}))
        return
    if args.fit_child:
        fit_child(args.fit_child, [m for m in args.models.split(",") if m], args.iterations)
        return
    sizes = [100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    n_items = 10_000 if args.quick else args.items
    load = os.getloadavg()
    print(f"# train_scale: {n_items:,} items, threads 1, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = []
    for n_events in sizes:
        n_users = max(1_000, n_events // 10)
        from bench.train_scale_setup import build_store

        store, var_dir = build_store(args.cache, args.data_dir, n_items, n_users, n_events), None
        if args.read_only:  # the streamed columns vs the DataFrame path training used before
            row = {"events": n_events, "columns": _fit(store, "", args.iterations, args.timeout)}
            if n_events <= args.frame_max_events:
                row["frame"] = _fit(store, "frame", args.iterations, args.timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        for repeat in range(args.repeats):
            order = ("kepu", "implicit") if (repeat + args.implicit_first) % 2 == 0 else ("implicit", "kepu")
            result: dict[str, Any] = {"events": n_events, "repeat": repeat, "iterations": args.iterations}
            for who in order:
                if who == "implicit":
                    result[who] = _fit(store, "als,bpr", args.iterations, args.timeout)
                elif args.fit_only:
                    result[who] = _fit(store, args.kepu_models, args.iterations, args.timeout)
                else:  # the catalog embedding (set-up) only now: the baseline may run while it is built
                    while args.wait_embedding and not (args.wait_embedding / "embedded").exists():
                        time.sleep(10)  # another store of this catalog is being embedded: share it
                    store, var_dir = _setup(args.cache, args.data_dir, n_items, n_users, n_events)
                    result[who] = _kepu(store, var_dir, args.timeout)
                print(f"  {who}: {json.dumps(result[who])}", flush=True)  # each half as soon as it is measured
            rows.append(result)
            (_print_fit_row if args.fit_only else _print_row)(result)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "items": n_items, "rows": rows}, indent=2))


def _print_fit_row(r: dict[str, Any]) -> None:
    k, i = r["kepu"], r["implicit"]
    als, lightfm = k.get("als_seconds"), k.get("lightfm_seconds")
    print(
        f"| {r['events']:,} | {k['shape'][0]:,} × {k['shape'][1]:,} | {k['nnz']:,} | {r['iterations']} "
        f"| {k['read_matrix_seconds']:.0f} s | {als} s | {lightfm} s | {k['peak_gib']:.2f} GiB "
        f"| {i['als_seconds']:.0f} s | {i['bpr_seconds']:.0f} s | {i['peak_gib']:.2f} GiB "
        f"| {(als or 0) / max(i['als_seconds'], 0.01):.2f}× "
        f"| {(lightfm or 0) / max(i['als_seconds'], 0.01):.1f}× |",
        flush=True,
    )


def _print_row(r: dict[str, Any]) -> None:
    """kepu train end to end vs the baseline's read + CSR + one ALS fit (what training minimally does)."""
    k, i = r["kepu"], r["implicit"]
    t = k["timings"]
    baseline = i["read_matrix_seconds"] + i["als_seconds"]
    print(
        f"| {r['events']:,} | {k['data_counts'].get('users', 0):,} | {k['data_counts'].get('interactions', 0):,} "
        f"| {k['seconds']:.0f} s | {k['cpu_seconds']:.0f} s | {k['peak_gib']:.2f} GiB | {k['model']} "
        f"| {k['served_ndcg@10']} ({k['validation_users']} users) | {k.get('validation_fit_seconds')} s "
        f"| {t.get('final_fit', 0.0):.0f} s | {i['read_matrix_seconds']:.0f} s | {i['als_seconds']:.0f} s "
        f"| {i['bpr_seconds']:.0f} s | {i['seconds']:.0f} s | {i['cpu_seconds']:.0f} s | {i['peak_gib']:.2f} GiB "
        f"| {k['seconds'] / max(baseline, 0.01):.2f}× |",
        flush=True,
    )
    print(f"  kepu phases: {t}  final fit: {k['final_fit']}", flush=True)
    print(f"  selection: {k['model']} ({k['reason']}); messages: {k['messages']}", flush=True)


if __name__ == "__main__":
    main()
