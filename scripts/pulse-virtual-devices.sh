#!/bin/sh
# Start (or check) a PulseAudio daemon with virtual audio devices, for machines with no
# sound card (CI, containers). Idempotent: safe to run any number of times.
#
#   coach_speaker   null sink: where the assistant speaks; record its ".monitor" to hear it
#   user_mouth      null sink: play the "user's" speech into it ...
#   coach_mic       ... and it comes out of this source (remap of user_mouth.monitor), the
#                   default input: the assistant's microphone
#
# Works as root without --system: the daemon runs in per-user mode with a fixed socket
# (COACH_PULSE_DIR, default /tmp/coach-pulse), and every client finds it through
# /etc/pulse/client.conf.d/90-coach-virtual.conf (libpulse, paplay, pactl) and
# /etc/asound.conf (ALSA default -> pulse, so PortAudio/sounddevice and aplay use it).
# Needs: pulseaudio pulseaudio-utils libasound2-plugins alsa-utils.
#
#   scripts/pulse-virtual-devices.sh           start / repair, print status
#   scripts/pulse-virtual-devices.sh --stop    stop the daemon started here
set -eu

DIR="${COACH_PULSE_DIR:-/tmp/coach-pulse}"
SOCKET="$DIR/native"
RATE="${COACH_PULSE_RATE:-48000}"   # 48 kHz like most USB microphones: capture must resample
export PULSE_SERVER="unix:$SOCKET"
export PULSE_RUNTIME_PATH="$DIR"
# root has no XDG_RUNTIME_DIR/HOME state worth trusting in a container
export HOME="${HOME:-/root}"

if [ "${1:-}" = "--stop" ]; then
    if [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
        kill "$(cat "$DIR/pid")"
        echo "pulse-virtual-devices: stopped daemon $(cat "$DIR/pid")"
    fi
    rm -f "$DIR/pid"
    exit 0
fi

for tool in pulseaudio pactl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "pulse-virtual-devices: '$tool' not found: apt-get install pulseaudio pulseaudio-utils libasound2-plugins alsa-utils" >&2
        exit 2
    }
done

mkdir -p "$DIR"
chmod 700 "$DIR"

# --- clients: find our daemon, never autospawn another one --------------------------------
# (COACH_PULSE_CLIENT_CONFIG=0 skips this: a private extra daemon that only clients with
#  PULSE_SERVER set should use, e.g. the unplug test that kills its daemon)
if [ "${COACH_PULSE_CLIENT_CONFIG:-1}" = "0" ]; then
    :
elif [ -w /etc ]; then
    mkdir -p /etc/pulse/client.conf.d
    cat > /etc/pulse/client.conf.d/90-coach-virtual.conf <<CONF
# written by scripts/pulse-virtual-devices.sh
default-server = unix:$SOCKET
autospawn = no
CONF
    # ALSA default device -> PulseAudio, so PortAudio (sounddevice) lists and opens it
    cat > /etc/asound.conf <<CONF
# written by scripts/pulse-virtual-devices.sh
pcm.!default { type pulse }
ctl.!default { type pulse }
CONF
else
    mkdir -p "$HOME/.config/pulse"
    printf 'default-server = unix:%s\nautospawn = no\n' "$SOCKET" > "$HOME/.config/pulse/client.conf"
    printf 'pcm.!default { type pulse }\nctl.!default { type pulse }\n' > "$HOME/.asoundrc"
fi

# --- daemon ---------------------------------------------------------------------------------
if ! pactl info >/dev/null 2>&1; then
    rm -f "$SOCKET" "$DIR/pid"
    cat > "$DIR/coach.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$SOCKET
PA
    # -n: no default.pa (no hardware probing, no suspend-on-idle); exit-idle-time=-1: stay up
    pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 -n \
        --file="$DIR/coach.pa" --use-pid-file=no --realtime=no --high-priority=no \
        --disallow-module-loading=no --log-target="file:$DIR/daemon.log" 2>>"$DIR/daemon.log" || true
    i=0
    until pactl info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 50 ]; then
            echo "pulse-virtual-devices: daemon did not come up; log:" >&2
            tail -20 "$DIR/daemon.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    # the daemon's pid, from the server itself (not a name search: other daemons may run)
    for p in $(pgrep -x pulseaudio 2>/dev/null); do
        if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "--file=$DIR/coach.pa"; then
            echo "$p" > "$DIR/pid"
        fi
    done
fi

# --- devices (load only what is missing) ----------------------------------------------------
have_sink() { pactl list short sinks | cut -f2 | grep -qx "$1"; }
have_source() { pactl list short sources | cut -f2 | grep -qx "$1"; }

have_sink coach_speaker || pactl load-module module-null-sink sink_name=coach_speaker \
    rate="$RATE" channels=1 norewinds=1 sink_properties=device.description=coach_speaker >/dev/null
have_sink user_mouth || pactl load-module module-null-sink sink_name=user_mouth \
    rate="$RATE" channels=1 norewinds=1 sink_properties=device.description=user_mouth >/dev/null
have_source coach_mic || pactl load-module module-remap-source source_name=coach_mic \
    master=user_mouth.monitor rate="$RATE" channels=1 \
    source_properties=device.description=coach_mic >/dev/null
pactl set-default-sink coach_speaker
pactl set-default-source coach_mic

echo "pulse-virtual-devices: server $PULSE_SERVER; default sink coach_speaker, default source coach_mic"
pactl list short sinks
pactl list short sources
