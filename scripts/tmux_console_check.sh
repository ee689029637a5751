#!/usr/bin/env bash
# Run the console in a real terminal (tmux), drive it with keys and check what is on screen.
#
#   scripts/tmux_console_check.sh [CAMERA]
#
# CAMERA defaults to the shared reference clip (replayed in a loop). The console runs on a fresh
# temporary home, in a terminal of GATEKEEPER_CHECK_SIZE (COLSxROWS, default 100x30); set
# GATEKEEPER_CHECK_WEIGHTS to a converted weights folder to skip converting them (a few
# seconds). Checks, first without a camera: the title and the camera panel say there is none,
# the models' loading is shown, the empty people screen says how to enrol, its keys stand apart
# from their labels, and the quit question does not speak of a camera. Then with CAMERA: the
# main screen appears, models load and the camera goes live, nothing from native libraries is
# printed over the screen, the help and people screens open and close, q asks before quitting
# (any key but y cancels) and y quits with status 0. Exits non-zero, printing the screen, on
# any failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
camera=$(realpath "${1:-$repo/../shared/data/video/short_hamilton_clip.mp4}")
home=$(mktemp -d)
size=${GATEKEEPER_CHECK_SIZE:-100x30}
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

# start_console ARGS...: the console on the temporary home, in a new session of the size asked.
start_console() {
    tmux kill-session 2>/dev/null || true
    tmux new-session -d -x "${size%x*}" -y "${size#*x}" \
        "cd '$repo' && '$python' -m gatekeeper --home '$home' --mute $*;
         echo \"console exited with status \$?\"; sleep 30"
}

start_console
wait_for "Access log" 15
screen | head -1 | grep -qF "Gatekeeper — no camera" || fail "the title does not say: no camera"
wait_for "State   none (no camera)" 5
if ! screen | grep -qF "Models  ready"; then
    wait_for "Models  loading…" 5
fi
tmux send-keys p
wait_for "Nobody is enrolled yet. Press i to enrol" 5
wait_for " i Enrol: photo d Remove" 5
tmux send-keys Escape
wait_for "Access log" 5
tmux send-keys q
wait_for "There is no camera: quitting stops no recognition" 5
tmux send-keys y
wait_for "console exited with status 0" 15
echo "ok: without a camera"

start_console --camera "'$camera'" --loop
wait_for "Access log" 15
echo "ok: main screen"
wait_for "State   live" 150
echo "ok: models loaded, camera live"
if screen | grep -qiE "tensorflow|onednn|cuda|absl|Traceback"; then
    fail "native library output on the screen"
fi
echo "ok: no library noise on screen"

tmux send-keys "?"
wait_for "Gatekeeper — keys" 5
tmux send-keys Escape
wait_gone "Gatekeeper — keys" 5
echo "ok: help screen"

tmux send-keys p
wait_for " c Enrol: camera i Enrol: photo" 5
tmux send-keys Escape
wait_for "Access log" 5
echo "ok: people screen"

tmux send-keys q
wait_for "Quit Gatekeeper?" 5
wait_for "The camera stops" 5
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
