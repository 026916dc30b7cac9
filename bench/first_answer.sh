#!/usr/bin/env bash
# bench/first_answer.sh REPO BRANCH DEST PORT: seconds from `git clone` to the first 200 from
# /api/search of a fresh `make serve`, with empty pip and uv caches (as on a new machine),
# split into install, index build and start-up; the first answer is kept in DEST.first.json.
# Then, if the server settles backend auto in the background (a first start serves the
# float32 reference meanwhile), how long after the first answer that took; and the seconds
# from a second `make serve` of the same clone to its first 200. The caches are temporary
# folders (the shared uv cache is left alone). The README's set-up figures come from it:
#   bench/first_answer.sh /path/to/korea-qa main /tmp/first/repo 8731
set -u
repo=$1 branch=$2 dest=$3 port=$4
rm -rf "$dest"; mkdir -p "$(dirname "$dest")"
export PIP_CACHE_DIR=$(mktemp -d) UV_CACHE_DIR=$(mktemp -d)
url="http://127.0.0.1:$port/api/search?q=How+many+North+Korean+workers+might+Russia+invite%3F&k=1"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# serve LOG: `make serve` in the clone, in its own process group; sets $pid.
serve() {
  KOREA_QA_PORT=$port setsid make serve > "$1" 2>&1 &
  pid=$!
}
# answered LOG: wait for the first 200 (false if make serve exits first).
answered() {
  until [ "$(curl -s -o "$dest.first.json" -w '%{http_code}' "$url")" = 200 ]; do
    kill -0 $pid 2>/dev/null || { echo "make serve exited"; tail "$1"; return 1; }
    sleep 0.25
  done
}
stop() { kill -- -"$pid"; wait "$pid" 2>/dev/null; }

start=$(date +%s.%N)
git clone -q --branch "$branch" "$repo" "$dest"
cd "$dest"
serve "$dest.serve.log"
answered "$dest.serve.log" || exit 1
end=$(date +%s.%N)
stamp=$(ls -t "$dest"/.venv/.installed "$dest"/.venv/.runtime 2>/dev/null | head -1)
installed=$(stat -c %.Y "$stamp")
indexed=$(stat -c %.Y "$dest/index/current" 2>/dev/null || echo "$end")
printf 'clone to first 200: %.1f s (install %.1f s, index build %.1f s, start-up to answer %.1f s)\n' \
  "$(echo "$end - $start" | bc)" "$(echo "$installed - $start" | bc)" \
  "$(echo "$indexed - $installed" | bc)" "$(echo "$end - $indexed" | bc)"
echo "load at the first answer: $(cut -d' ' -f1-3 /proc/loadavg)"

# A provisional first start logs "backend auto settled" once the chosen backend serves.
if grep -q "float32) serves first" "$dest.serve.log"; then
  until grep -q "backend auto settled" "$dest.serve.log"; do
    kill -0 $pid 2>/dev/null || { echo "make serve exited"; tail "$dest.serve.log"; exit 1; }
    sleep 0.5
  done
  printf 'backend auto settled in the background %.1f s after the first answer: %s\n' \
    "$(echo "$(date +%s.%N) - $end" | bc)" \
    "$(grep -o 'backend auto settled.*' "$dest.serve.log" | head -1)"
fi
stop

start=$(date +%s.%N)
serve "$dest.serve2.log"
answered "$dest.serve2.log" || exit 1
printf 'second make serve to first 200: %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"
stop
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$PIP_CACHE_DIR" "$UV_CACHE_DIR"
