#!/usr/bin/env bash
# Run the console in a real terminal (tmux), drive it with keys and check what is on screen.
#
#   scripts/tmux_console_check.sh [CAMERA]
#
# CAMERA defaults to the shared reference clip (replayed in a loop). The console runs on a fresh
# temporary home; set GATEKEEPER_CHECK_WEIGHTS to a converted weights folder to skip converting
# them (a few seconds). Checks: the main screen appears, models load and the camera goes live,
# nothing from native libraries is printed over the screen, the help and people screens open
# and close, q asks before quitting (any key but y cancels) and y quits with status 0. Exits
# non-zero, printing the screen, on any failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
camera=$(realpath "${1:-$repo/../shared/data/video/short_hamilton_clip.mp4}")
home=$(mktemp -d)
# A tmux server of its own (-L), apart from the user's sessions.
tmux() { command tmux -L "gatekeeper-check-$$" "$@"; }

cleanup() {
    tmux kill-server 2>/dev/null || true
    rm -rf "$home"
}
trap cleanup EXIT

if [ -n "${GATEKEEPER_CHECK_WEIGHTS:-}" ]; then
    ln -s "$(realpath "$GATEKEEPER_CHECK_WEIGHTS")" "$home/weights"
fi

screen() { tmux capture-pane -p; }

fail() {
    echo "FAIL: $*" >&2
    screen >&2 || true
    exit 1
}

# wait_for TEXT SECONDS: until TEXT is on screen.
wait_for() {
    local deadline=$((SECONDS + $2))
    until screen | grep -qF -- "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "'$1' not on screen after $2 s"
        sleep 0.2
    done
}

# wait_gone TEXT SECONDS: until TEXT is no longer on screen.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while screen | grep -qF -- "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "'$1' still on screen after $2 s"
        sleep 0.2
    done
}

tmux new-session -d -x 100 -y 30 \
    "cd '$repo' && '$python' -m gatekeeper --home '$home' --camera '$camera' --mute --loop;
     echo \"console exited with status \$?\"; sleep 30"

wait_for "Access log" 15
echo "ok: main screen"
wait_for "State   live" 60
echo "ok: models loaded, camera live"
if screen | grep -qiE "tensorflow|onednn|cuda|absl|Traceback"; then
    fail "native library output on the screen"
fi
echo "ok: no library noise on screen"

tmux send-keys "?"
wait_for "Gatekeeper — keys" 5
tmux send-keys Escape
wait_for "Access log" 5
echo "ok: help screen"

tmux send-keys p
wait_for "Enrol: camera" 5
tmux send-keys Escape
wait_for "Access log" 5
echo "ok: people screen"

tmux send-keys q
wait_for "Quit Gatekeeper?" 5
tmux send-keys x
wait_gone "Quit Gatekeeper?" 5
if screen | grep -qF "Export the access log"; then
    fail "the key that cancelled the quit also ran its own action"
fi
echo "ok: quit asks, and another key cancels"

tmux send-keys q
wait_for "Quit Gatekeeper?" 5
tmux send-keys y
wait_for "console exited with status 0" 15
echo "ok: quit"
[ -s "$home/data/console.log" ] || fail "no console log in $home/data"
echo "PASS"
