"""Benchmark (issue 8, target 6): what cutting the text USE reads costs in quality and saves in CPU.

USE multilingual's forward pass costs ~the same per token whatever the text, so a catalog build's USE time is
proportional to the tokens it reads; `UseMultilingualEncoder` cuts each text to `MAX_CHARS` (512) characters.
On CSL dev+test (2,000 papers, title + abstract) this encodes each text cut to `--limits` characters and
reports 10-NN discipline agreement of USE alone and of the default `hybrid` (tfidf-svd 0.3 + USE 0.7, the
tfidf-svd part always on the full text), the tokens read and USE CPU ms per text, all in one run; the
512-character row is today's setting and the baseline of the ratios. One BLAS thread.

    PYTHONPATH=$PWD .venv/bin/python bench/use_truncation.py [--limits 512,256,128,64] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "/work/shared/data")))
    parser.add_argument("--limits", default="512,256,128,64", help="characters USE reads, first = baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    from threadpoolctl import threadpool_limits

    from content_catalog.encoders.base import l2_normalize
    from content_catalog.encoders.evaluation import load_csl, neighbour_agreement
    from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
    from content_catalog.encoders.use_multilingual import UseMultilingualEncoder

    threadpool_limits(1)
    corpus = load_csl(args.data_dir)
    texts, labels = corpus.documents, corpus.labels
    lexical = l2_normalize(TfidfSvdEncoder().fit_transform(texts))
    tokenizer = UseMultilingualEncoder(processes=1)._loaded()._tokenizer
    rows: list[dict[str, float]] = []
    for limit in [int(part) for part in args.limits.split(",")]:
        cut = [text.strip()[:limit] for text in texts]
        tokens = np.mean([len(tokenizer.encode(t, out_type=int, add_bos=True, add_eos=True)) for t in cut])
        use = UseMultilingualEncoder(processes=1)  # a fresh cache per limit
        use.encode(["预热"])
        start = time.process_time()
        neural = use.encode(cut)
        cpu_ms = 1000 * (time.process_time() - start) / len(cut)
        hybrid = np.hstack([np.sqrt(0.3) * lexical, np.sqrt(0.7) * neural])
        rows.append(
            {
                "chars": limit,
                "tokens": round(float(tokens), 1),
                "use_cpu_ms": round(cpu_ms, 2),
                "use_agreement": round(neighbour_agreement(neural, labels), 4),
                "hybrid_agreement": round(neighbour_agreement(hybrid, labels), 4),
            }
        )
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    base = rows[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nUSE input length on CSL ({len(texts):,} title + abstract texts; load average {load}; 2 cores)\n")
    print("| USE reads (chars) | tokens / text | USE CPU ms / text | × CPU | USE 10-NN agr. | hybrid 10-NN agr. |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['chars']} | {r['tokens']} | {r['use_cpu_ms']} | {r['use_cpu_ms'] / base['use_cpu_ms']:.2f} "
            f"| {r['use_agreement']} | {r['hybrid_agreement']} |"
        )
    return rows


if __name__ == "__main__":
    main()
