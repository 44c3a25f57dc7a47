"""The training read path alone, for before/after comparisons across checkouts: store → event columns,
then the registered users with events (profile rows where the code has `Store.iter_user_profiles`, else
`User` objects from `iter_users`); prints wall and CPU seconds per phase and the peak RSS as JSON.

Run it with each checkout's code on the same cached store (bench/train_scale_setup.py), in one sitting:

    PYTHONPATH=/work/main .venv/bin/python bench/train_read_path.py STORE.sqlite     # before
    PYTHONPATH=$PWD .venv/bin/python bench/train_read_path.py STORE.sqlite           # after
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

from content_catalog.store import Store
from features.event_columns import columns_from_chunks


def main(path: str) -> None:
    out: dict[str, float | int | list[float]] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    with Store(f"sqlite:///{path}", migrate=False) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        events = columns_from_chunks(store.iter_event_chunks())
        out |= {"events": events.n, "events_wall": round(time.perf_counter() - wall, 1)}
        out["events_cpu"] = round(time.process_time() - cpu, 1)
        wall, cpu = time.perf_counter(), time.process_time()
        keys = set(events.keys)
        if hasattr(store, "iter_user_profiles"):
            from features.user_profiles import UserProfiles

            users: object = UserProfiles.from_rows(row for row in store.iter_user_profiles() if row[0] in keys)
        else:
            users = [u for u in store.iter_users() if u.id in keys]
        out |= {"users": len(users), "users_wall": round(time.perf_counter() - wall, 1)}  # type: ignore[arg-type]
        out["users_cpu"] = round(time.process_time() - cpu, 1)
    out["peak_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
