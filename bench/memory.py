"""Target 7 (issue 8): memory per API worker at 10k and 100k items with 1M users, 1 vs 2 workers.

For each catalog size it serves the cached world (`bench/scale_world.py`: SQLite store, tfidf-svd index
without smoothing, LightFM 1 epoch × 32 components over 1M users) with `uvicorn --workers 1` and then
`--workers 2`, warms every worker with each kind of request (recommendations for a trained user and an
audience, similar items, search), and prints per worker: RSS, PSS (shared pages divided among the
processes that map them), USS (pages only this process holds), and the part of RSS / PSS mapped from the
bundle and index files. With memory-mapped arrays, the second worker's PSS of those files is half the
first's, and the machine's total (sum of PSS) grows by the USS of one worker, not by its RSS.

    PYTHONPATH=$PWD .venv/bin/python bench/memory.py --data-dir ../shared/data [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scale_world import DEFAULT_CACHE, World, build_world, served_env, users_sample  # noqa: E402
from bench.serve_support import Memory, loadavg, memory, server, warm  # noqa: E402


def warm_paths(item_ids: Sequence[str], user_ids: Sequence[str]) -> list[str]:
    return [
        f"/v1/recommendations?user_id={user_ids[0]}&k=20",
        f"/v1/recommendations?user_id={user_ids[1]}&k=20",
        "/v1/recommendations?audience=seniors&session_id=mem-s1&k=20",
        f"/v1/items/{item_ids[0]}/similar?k=10",
        f"/v1/search?q={quote('水稻病虫害')}&k=10",
    ]


def measure(world: World, workers: int, log_dir: Path) -> list[tuple[Memory, Memory]]:
    """Per worker: its memory with the part mapped from the bundle folder, and again from the index folder."""
    users = [u.id for u in users_sample(world, 2)]
    paths = warm_paths(world.item_ids(1), users)
    log = log_dir / f"memory-{world.n_items}-w{workers}.log"
    with server(served_env(world), workers=workers, log=log) as running:
        warm(running.base, paths)
        return [(memory(p, world.var_dir / "models"), memory(p, world.var_dir / "index")) for p in running.workers()]


def table(rows: list[dict]) -> str:
    head = (
        "| items | users | workers | worker | RSS MB | PSS MB | USS MB | bundle mapped RSS / PSS / size MB "
        "| index mapped RSS / PSS / size MB |"
    )
    lines = [head, "|" + " --- |" * 9]
    for r in rows:
        m, x = r["memory"], r["index"]
        lines.append(
            f"| {r['items']:,} | {r['users']:,} | {r['workers']} | {r['worker']} | {m['rss']:.0f} | {m['pss']:.0f} "
            f"| {m['uss']:.0f} | {m['mapped_rss']:.0f} / {m['mapped_pss']:.0f} / {m['mapped_size']:.0f} "
            f"| {x['mapped_rss']:.0f} / {x['mapped_pss']:.0f} / {x['mapped_size']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("KEPU_DATA_DIR", "../shared/data")))
    parser.add_argument("--sizes", default="10000,100000", help="catalog sizes (comma-separated)")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    totals: list[str] = []
    for n_items in (int(s) for s in args.sizes.split(",")):
        world = build_world(args.data_dir, n_items, args.users, args.events, args.cache)
        for workers in (1, 2):
            measured = measure(world, workers, args.cache)
            for k, (m, x) in enumerate(measured, start=1):
                rows.append(
                    {"items": n_items, "users": args.users, "workers": workers, "worker": k}
                    | {"memory": vars(m), "index": vars(x), "stack": world.stack}
                )
            pss = sum(m.pss for m, _ in measured)
            rss = sum(m.rss for m, _ in measured)
            totals.append(f"{n_items:,} items, {workers} worker(s): sum of RSS {rss:.0f} MB, sum of PSS {pss:.0f} MB")
    if args.json:
        print(json.dumps({"loadavg": os.getloadavg(), "rows": rows}, indent=2))
        return 0
    stacks = sorted({r["stack"] for r in rows})
    print(f"memory per API worker ({loadavg()}); {'; '.join(stacks)}")
    print(table(rows))
    print("\n".join(totals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
