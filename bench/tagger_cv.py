"""Cross-validated audience-tagging quality on the shipped demo catalog, with ablations.

5-fold (seeded, stratified by primary editor label) CV over the editor-labelled demo items: each fold
fits the tagger on the other folds (+ unlabelled items, for the encoder), predicts the held-out items
with their tags removed, and scores per-label F1 (5 audiences + public) and macro-F1. The full tagger
is compared with searched-weights, lexicon-only and prototype-only variants measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tagger_cv.py [--folds 5] [--seed 0] [--json] [--encoder hybrid]
"""

from __future__ import annotations

import argparse
import json
import time

from content_catalog.audience.evaluation import ABLATIONS, run_ablations
from content_catalog.audience.labels import LABELS
from content_catalog.demo_catalog import load_demo_items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--encoder", default=None, help="catalog encoder spec for the tagger (default: char TF-IDF)")
    args = parser.parse_args(argv)

    items = load_demo_items()
    n_labelled = sum(1 for item in items if item.editor_audiences)
    started = time.perf_counter()
    results = run_ablations(
        items, n_splits=args.folds, random_state=args.seed, variants=args.variants, encoder_spec=args.encoder
    )
    seconds = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {
                    "items": len(items),
                    "labelled": n_labelled,
                    "folds": args.folds,
                    "seed": args.seed,
                    "seconds": round(seconds, 1),
                    "results": [r.as_dict() for r in results],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    baseline = results[0].macro_f1
    print(
        f"demo catalog: {len(items)} items, {n_labelled} editor-labelled;"
        f" {args.folds}-fold CV, seed {args.seed}; encoder: {args.encoder or 'char TF-IDF (tagger default)'}"
    )
    header = f"{'variant':<16}" + "".join(f"{label:>10}" for label in LABELS) + f"{'macro-F1':>10}{'ratio':>8}"
    print(header)
    print(f"{'support':<16}" + "".join(f"{results[0].support[label]:>10}" for label in LABELS))
    for result in results:
        row = f"{result.name:<16}" + "".join(f"{result.f1[label]:>10.3f}" for label in LABELS)
        print(row + f"{result.macro_f1:>10.3f}{result.macro_f1 / baseline:>8.2f}")
    print(f"fold macro-F1 ({results[0].name}): " + ", ".join(f"{v:.3f}" for v in results[0].fold_macro_f1))
    print(f"chosen weights (lexicon, prototype, supervised) per fold: {results[0].weights}")
    print(f"{seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
