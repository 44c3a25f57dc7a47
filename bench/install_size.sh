#!/usr/bin/env bash
# How big a clean install of Kepu is: a throwaway venv in a temp folder, `pip install <tree>[EXTRAS]`,
# then a table of the venv's size and its largest distributions. Nothing in the repo or .venv changes.
#
#   bash bench/install_size.sh                 # the working tree, default install (no extras)
#   bash bench/install_size.sh HEAD~3          # a commit's tree (git archive), default install
#   bash bench/install_size.sh WORKTREE dev    # the working tree with the dev extra
#   FREEZE_TO=constraints.txt bash bench/install_size.sh WORKTREE dev   # also write the lock file
#
# When the tree's default dependencies pin torch, torch==2.13.0 is installed first, as the Makefile does
# (any other spec pulls a multi-GB CUDA build). The pip cache is used, so a warm cache makes this quick.
set -euo pipefail
rev="${1:-WORKTREE}"
extras="${2:-}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/kepu-install-size.XXXXXX")"
trap 'rm -rf "$work"' EXIT

src="$work/src"
mkdir -p "$src"
if [[ "$rev" == WORKTREE ]]; then
  git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$src")
else
  git -C "$repo" archive "$rev" | tar -x -C "$src"
fi
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/pip" --quiet --disable-pip-version-check)
quiet_index_warnings() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
base_mb=$(du -sm "$work/venv" | cut -f1)
if grep -q '^ *"torch==' <(sed -n '/^dependencies = \[/,/^\]/p' "$src/pyproject.toml") || [[ "$extras" == *dev* || "$extras" == *sentence* ]]; then
  "${pip[@]}" install torch==2.13.0 2> >(quiet_index_warnings)
fi
target="$src"
[[ -n "$extras" ]] && target="$src[$extras]"
"${pip[@]}" install "$target" 2> >(quiet_index_warnings)
if [[ -n "${FREEZE_TO:-}" ]]; then
  # The lock file the Makefile installs with (-c): every distribution but kepu itself; torch without its
  # local build label so `torch==2.13.0` (the CPU wheel, installed first) satisfies it.
  {
    echo "# Versions of a clean \`pip install -e '.[dev]'\` (torch first), written by"
    echo "# FREEZE_TO=constraints.txt bash bench/install_size.sh WORKTREE dev — used by the Makefile with -c."
    "$work/venv/bin/pip" freeze --exclude kepu 2>/dev/null | sed -E 's/^(torch==[^+]+)\+.*/\1/' | sort -f
  } > "$FREEZE_TO.tmp"
  mv "$FREEZE_TO.tmp" "$FREEZE_TO"
fi

site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
total_mb=$(du -sm "$work/venv" | cut -f1)
count=$("$work/venv/bin/pip" list --format=freeze 2>/dev/null | wc -l)
printf '%-34s %s\n' "tree" "$rev${extras:+ [$extras]}"
printf '%-34s %s\n' "venv size (MB)" "$total_mb"
printf '%-34s %s\n' "of which empty venv + pip (MB)" "$base_mb"
printf '%-34s %s\n' "installed distributions" "$count"
printf '%-34s %s\n' "torch installed" "$("$work/venv/bin/python" -c 'import importlib.util as u; print("yes" if u.find_spec("torch") else "no")')"
echo "largest folders in site-packages (MB):"
du -sm "$site"/* | sort -rn | head -12 | while read -r mb path; do printf '  %-32s %6s\n' "$(basename "$path")" "$mb"; done
