"""Run every MovieLens protocol over several seeds and print/save the tables used in docs/evaluation.md.

Usage: OMP_NUM_THREADS=1 python bench/evaluate_all.py --data-dir ../shared/data --seeds 0 1 2 [--fast]
       [--protocols movielens-recbole ...] [--out var/eval]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import recommender.evaluation.service_cold  # noqa: F401  (registers the movielens-service protocols)
from recommender.evaluation import format_table, run_protocol, to_json

MOVIELENS_PROTOCOLS = ("movielens-recbole", "movielens-lightfm", "movielens-cold-items", "movielens-cold-users")
COLUMNS = {
    "movielens-recbole": ["ndcg", "recall", "mrr", "hit", "precision", "auc", "coverage", "novelty", "diversity"],
    "movielens-lightfm": ["precision", "auc", "precision_unfiltered", "auc_unfiltered", "ndcg", "recall", "coverage"],
    "movielens-cold-items": ["auc", "ndcg", "precision", "recall", "hit", "coverage", "diversity"],
    "movielens-cold-users": ["ndcg", "precision", "hit", "auc", "coverage", "novelty"],
    "movielens-service-cold-users": ["ndcg", "precision", "hit", "coverage", "novelty"],
    "movielens-service-cold-items": ["auc", "ndcg", "precision"],
    "movielens-service": ["ndcg", "recall", "mrr", "hit", "precision", "coverage", "novelty", "diversity"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("KEPU_DATA_DIR"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--protocols", nargs="+", default=list(MOVIELENS_PROTOCOLS))
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="folder for one JSON file per protocol")
    args = parser.parse_args()
    for name in args.protocols:
        start = time.perf_counter()
        result = run_protocol(name, args.data_dir, seeds=args.seeds, fast=args.fast)
        print(format_table(result, COLUMNS.get(name)))
        print(f"wall {time.perf_counter() - start:.1f}s\n")
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.json").write_text(to_json(result), encoding="utf-8")


if __name__ == "__main__":
    main()
