"""What visitors are served, over several seeds: `movielens-service` (best bare model vs the served list vs
one ablation per online stage) and the cold-start variants through the service (issue 7's targets).

Usage:
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/served_eval.py \
    --data-dir ../shared/data --seeds 0 1 2 [--test-users N] [--validation-users 300] [--ablation-users 300] \
    [--model auto] [--cold-full]

Defaults are the protocol's full setting (every test user, `auto`, 300 ablation users); on a loaded
machine `--test-users 300 --ablation-users 150` keeps a 3-seed run bounded. Cold variants run in their
fast setting (100 held-out users / users with held-out items) unless `--cold-full`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from recommender.evaluation.results import ModelRun
from recommender.evaluation.service_cold import movielens_service_cold_items, movielens_service_cold_users
from recommender.evaluation.service_protocol import ABLATION_USERS, ServiceRun, run_service

TARGET_SERVED = 0.31
TARGET_GAP = 0.03
TARGET_COLD_USERS = 1.10
TARGET_COLD_ITEMS = 0.75


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


def _label(run: ModelRun) -> str:
    """Seed-independent row names: `auto` may pick another model per seed."""
    if run.model.startswith("Served (") and run.model.endswith(")") and "ablation" not in run.model:
        return "Served"
    if run.model.startswith("Bare ") and run.model != "Bare ease":
        return "Bare (served model)"
    return run.model


def warm_table(runs_by_seed: dict[int, list[ModelRun]]) -> str:
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    chosen = {}
    for seed, runs in runs_by_seed.items():
        for run in runs:
            for metric in ("ndcg", "recall", "mrr", "hit", "diversity"):
                if metric in run.metrics:
                    rows[_label(run)][metric].append(float(run.metrics[metric]))
            if _label(run) == "Served":
                chosen[seed] = run.params.get("model")
    bare = {name: np.mean(r["ndcg"]) for name, r in rows.items() if name.startswith("Bare")}
    best_bare = max(bare, key=bare.get) if bare else None
    served = float(np.mean(rows["Served"]["ndcg"]))
    lines = [
        f"models served per seed: {chosen}",
        "| list | NDCG@10 | Recall@10 | MRR@10 | Hit@10 | diversity |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    order = ["Served", "Bare (served model)", "Bare ease", "Popularity"]
    order += sorted(n for n in rows if n.startswith("Served ") and n not in order)
    for name in [n for n in order if n in rows]:
        r = rows[name]
        cells = [_mean(r[m]) if r.get(m) else "" for m in ("ndcg", "recall", "mrr", "hit", "diversity")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if best_bare:
        gap = served / bare[best_bare] - 1.0
        ok = served >= TARGET_SERVED and gap >= -TARGET_GAP
        lines.append(
            f"\nserved {served:.4f} vs best bare ({best_bare}) {bare[best_bare]:.4f}: {gap:+.1%} "
            f"(targets ≥ {TARGET_SERVED}, within {TARGET_GAP:.0%}: {'met' if ok else 'NOT met'})"
        )
    return "\n".join(lines)


def cold_tables(users: dict[int, list[ModelRun]], items: dict[int, list[ModelRun]]) -> str:
    lines = ["| seed | cold users: served NDCG@10 | popularity NDCG@10 | ratio | cold items: served AUC |"]
    lines.append("| --- | --- | --- | --- | --- |")
    ratios, aucs = [], []
    for seed in sorted(users):
        served = next(r for r in users[seed] if r.model.startswith("Served"))
        popularity = next(r for r in users[seed] if r.model == "Popularity (global)")
        auc = float(next(r for r in items[seed] if r.model.startswith("Served")).metrics["auc"])
        ratio = served.metrics["ndcg"] / popularity.metrics["ndcg"]
        ratios.append(ratio)
        aucs.append(auc)
        lines.append(
            f"| {seed} | {served.metrics['ndcg']:.4f} | {popularity.metrics['ndcg']:.4f} | {ratio:.3f}× | {auc:.4f} |"
        )
    lines.append(f"| mean | | | **{np.mean(ratios):.3f}×** | **{np.mean(aucs):.4f}** |")
    ablated = sorted({r.model for runs in users.values() for r in runs if r.model.startswith("Served ")})
    ablated = [name for name in ablated if not name.startswith("Served (")]
    if ablated:
        lines.append("\n| cold users: list | NDCG@10 / popularity, per seed | mean |\n| --- | --- | --- |")
        for name in ["Served", *ablated, "Popularity (released by arrival)"]:
            per_seed = []
            for runs in (users[s] for s in sorted(users)):
                run = next(r for r in runs if r.model == name or (name == "Served" and r.model.startswith("Served (")))
                popularity = next(r for r in runs if r.model == "Popularity (global)")
                per_seed.append(run.metrics["ndcg"] / popularity.metrics["ndcg"])
            cells = " / ".join(f"{v:.3f}" for v in per_seed)
            lines.append(f"| {name} | {cells} | {np.mean(per_seed):.3f}× |")
    lines.append(
        f"\ncold users {np.mean(ratios):.3f}× popularity (target ≥ {TARGET_COLD_USERS}×: "
        f"{'met' if np.mean(ratios) >= TARGET_COLD_USERS else 'NOT met'}); cold items AUC {np.mean(aucs):.4f} "
        f"(target ≥ {TARGET_COLD_ITEMS}: {'met' if np.mean(aucs) >= TARGET_COLD_ITEMS else 'NOT met'})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KEPU_DATA_DIR"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-users", type=int, default=None)
    parser.add_argument("--validation-users", type=int, default=300)
    parser.add_argument("--ablation-users", type=int, default=ABLATION_USERS)
    parser.add_argument("--model", default="auto")
    parser.add_argument("--cold-full", action="store_true")
    parser.add_argument("--cold-ablations", action="store_true", help="cold users: one list per stage switched off")
    parser.add_argument("--skip", nargs="*", default=[], choices=["warm", "cold"])
    parser.add_argument("--save", type=Path, default=None, help="write the runs as JSON (one file per process)")
    parser.add_argument("--merge", type=Path, nargs="*", default=None, help="print the tables of saved runs")
    args = parser.parse_args()
    if args.merge is not None:
        merged: dict[str, dict[int, list[ModelRun]]] = defaultdict(dict)
        for path in args.merge:
            for part, by_seed in json.loads(path.read_text(encoding="utf-8")).items():
                for seed, runs in by_seed.items():
                    merged[part][int(seed)] = [ModelRun(**r) for r in runs]
        if merged.get("cold_users"):
            print(cold_tables(merged["cold_users"], merged["cold_items"]))
        if merged.get("warm"):
            print(warm_table(merged["warm"]))
        return
    data_dir = Path(args.data_dir) if args.data_dir else None
    config = ServiceRun(args.test_users, args.model, args.validation_users, args.ablation_users)
    print(f"load average {os.getloadavg()[0]:.2f} (2 shared cores); {config}; cold full: {args.cold_full}")
    start = time.perf_counter()
    users: dict[int, list[ModelRun]] = {}
    items: dict[int, list[ModelRun]] = {}
    warm: dict[int, list[ModelRun]] = {}
    if "cold" not in args.skip:
        fast = not args.cold_full
        users = {s: movielens_service_cold_users(data_dir, s, 10, fast, args.cold_ablations) for s in args.seeds}
        items = {s: movielens_service_cold_items(data_dir, s, 10, not args.cold_full) for s in args.seeds}
        print(cold_tables(users, items), flush=True)
        print(f"wall {time.perf_counter() - start:.0f}s, load average {os.getloadavg()[0]:.2f}\n", flush=True)
    if "warm" not in args.skip:
        warm = {s: run_service(data_dir, s, 10, config) for s in args.seeds}
        print(warm_table(warm))
    print(f"wall {time.perf_counter() - start:.0f}s, load average {os.getloadavg()[0]:.2f}")
    if args.save is not None:
        saved = {"cold_users": users, "cold_items": items, "warm": warm}
        doc = {part: {s: [asdict(r) for r in runs] for s, runs in by.items()} for part, by in saved.items()}
        args.save.write_text(json.dumps(doc, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
