#!/usr/bin/env bash
# bench/first_answer.sh REPO BRANCH DEST PORT: seconds from `git clone` to the first 200 from
# /api/search of a fresh `make serve`, with empty pip and uv caches (as on a new machine),
# split into install, index build and start-up; the first answer is kept in DEST.first.json.
# The README's set-up figures and example come from it:
#   bench/first_answer.sh /path/to/korea-qa main /tmp/first/repo 8731
set -u
repo=$1 branch=$2 dest=$3 port=$4
rm -rf "$dest"; mkdir -p "$(dirname "$dest")"
export PIP_CACHE_DIR=$(mktemp -d) UV_CACHE_DIR=$(mktemp -d)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
git clone -q --branch "$branch" "$repo" "$dest"
cd "$dest"
KOREA_QA_PORT=$port setsid make serve > "$dest.serve.log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port/api/search?q=How+many+North+Korean+workers+might+Russia+invite%3F&k=1"
until [ "$(curl -s -o "$dest.first.json" -w '%{http_code}' "$url")" = 200 ]; do
  kill -0 $pid 2>/dev/null || { echo "make serve exited"; tail "$dest.serve.log"; exit 1; }
  sleep 0.25
done
end=$(date +%s.%N)
stamp=$(ls -t "$dest"/.venv/.installed "$dest"/.venv/.runtime 2>/dev/null | head -1)
installed=$(stat -c %.Y "$stamp")
indexed=$(stat -c %.Y "$dest/index/current" 2>/dev/null || echo "$end")
printf 'clone to first 200: %.1f s (install %.1f s, index build %.1f s, start-up to answer %.1f s)\n' \
  "$(echo "$end - $start" | bc)" "$(echo "$installed - $start" | bc)" \
  "$(echo "$indexed - $installed" | bc)" "$(echo "$end - $indexed" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -- -"$pid"
wait "$pid" 2>/dev/null
rm -rf "$PIP_CACHE_DIR" "$UV_CACHE_DIR"
