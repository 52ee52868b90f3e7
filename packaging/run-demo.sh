#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs the main job on the
# embedded demo dataset. With a display it opens the studio (when built); without one it runs
# the same demo headless in this terminal, with a progress bar.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

bin=build/bin
data_home="${XDG_DATA_HOME:-$HOME/.local/share}/genrec"
demo="$data_home/demo"
mkdir -p "$data_home"

if [[ -x "$bin/genrec-studio" && -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && "${GENREC_HEADLESS:-0}" != 1 ]]; then
    exec "$bin/genrec-studio" --demo
fi

echo "== demo dataset: $demo"
if [[ ! -f "$demo/index/Demo_Office.index.json" ]]; then
    "$bin/genrec" data synth --out "$demo" >/dev/null
fi
"$bin/genrec" data inspect "$demo"
echo
echo "== demo config: resources/configs/demo.yaml"
"$bin/genrec" config validate resources/configs/demo.yaml --set dataset_dir="$demo"
if "$bin/genrec" train --help >/dev/null 2>&1; then
    echo
    echo "== training (SFT -> RL -> eval) on the demo"
    "$bin/genrec" train resources/configs/demo.yaml --set dataset_dir="$demo"
    "$bin/genrec" runs list
fi
