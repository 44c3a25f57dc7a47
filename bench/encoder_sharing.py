"""Target 7 (issue 8), the encoder part: is a saved `tfidf-svd` encoder shared between API worker processes?

Two processes at a time load the same saved encoder (as every uvicorn worker does at start) and encode a
query (which builds the encoder's per-process projection and smoothing caches), then this script reads
their RSS / PSS / USS and the part mapped from the encoder file. Run for the encoder folder as saved (by
an older `TfidfSvdEncoder.save`, C-ordered components and a CSR smoothing memory: the caches are private
copies) and for the same encoder re-saved by this version's `save` (Fortran components, CSC memory: the
caches are views of the mapped file), alternately, in one run, next to the baseline code (`--baseline-code`,
default /work/main: loads the parts into private memory).

    PYTHONPATH=$PWD .venv/bin/python bench/encoder_sharing.py ENCODER_FOLDER [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.serve_support import loadavg, memory  # noqa: E402

CHILD = """
import sys, time
from content_catalog.encoders import load_encoder
encoder = load_encoder(sys.argv[1])
encoder.encode(["水稻病虫害的绿色防控"])
print("ready", flush=True)
time.sleep(600)
"""


def measure(folder: Path, code: Path, processes: int = 2) -> list[dict]:
    """Start `processes` loaders of `folder` running the code in `code`, wait until each has encoded, read
    their memory, stop them."""
    env = {"PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    try:
        for child in children:
            if child.stdout is None or child.stdout.readline().strip() != "ready":
                raise SystemExit(f"encoder loader for {folder} failed (exit {child.wait()})")
        time.sleep(0.5)
        return [vars(memory(psutil.Process(child.pid), folder)) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a saved tfidf-svd encoder folder (…/encoder)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-code", type=Path, default=Path("/work/main"), help="checkout for the baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from content_catalog.encoders import load_encoder

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=args.folder.parent.parent) as tmp:
        resaved = load_encoder(args.folder).save(Path(tmp) / "encoder")
        layouts = {
            "baseline code, file as saved": (args.folder, args.baseline_code),
            "this code, file as saved": (args.folder, ROOT),
            "this code, file re-saved by it": (resaved, ROOT),
        }
        for round_ in range(args.rounds):
            for name, (folder, code) in layouts.items():
                for k, m in enumerate(measure(folder, code), start=1):
                    rows.append({"layout": name, "round": round_ + 1, "process": k, **m})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"encoder sharing, 2 processes each: load + one encode; {loadavg()}; {args.folder}")
    print("| layout | round | process | RSS MB | PSS MB | USS MB | mapped RSS / PSS / size MB |")
    print("|" + " --- |" * 7)
    for r in rows:
        print(
            f"| {r['layout']} | {r['round']} | {r['process']} | {r['rss']:.0f} | {r['pss']:.0f} | {r['uss']:.0f} "
            f"| {r['mapped_rss']:.0f} / {r['mapped_pss']:.0f} / {r['mapped_size']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
