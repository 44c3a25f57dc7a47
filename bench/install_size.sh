#!/usr/bin/env bash
# How big a clean install of Kepu is: a throwaway venv in a temp folder, `pip install <tree>[EXTRAS]`,
# then a table of the venv's size and its largest distributions. Nothing in the repo or .venv changes.
#
#   bash bench/install_size.sh                 # the working tree, default install (no extras)
#   bash bench/install_size.sh HEAD~3          # a commit's tree (git archive), default install
#   bash bench/install_size.sh WORKTREE dev    # the working tree with the dev extra
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
base_mb=$(du -sm "$work/venv" | cut -f1)
if grep -q '^ *"torch==' <(sed -n '/^dependencies = \[/,/^\]/p' "$src/pyproject.toml") || [[ "$extras" == *dev* || "$extras" == *sentence* ]]; then
  "${pip[@]}" install torch==2.13.0
fi
target="$src"
[[ -n "$extras" ]] && target="$src[$extras]"
"${pip[@]}" install "$target"

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
