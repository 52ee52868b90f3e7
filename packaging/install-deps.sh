#!/usr/bin/env bash
# Installs the Debian 12 packages GenRec Studio needs to build, test and run.
# Idempotent: when every package is already present it returns in well under a second.
#   bash packaging/install-deps.sh            # build + test + run dependencies
#   GENREC_DEV_EXTRAS=1 bash packaging/install-deps.sh   # + tools for regenerating test goldens
set -euo pipefail

pkgs=(
    # toolchain
    cmake ninja-build g++ pkg-config
    # engine (core + training)
    libtorch-dev libgloo-dev libopenblas0-openmp libblas-dev libjemalloc-dev
    libyaml-cpp-dev libsqlite3-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libpcre2-dev
    libutf8proc-dev
    # studio (Qt 6 Widgets + QCustomPlot)
    qt6-base-dev qt6-base-dev-tools qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools
    libqcustomplot-dev libqcustomplot2.1-qt6
    # GUI tests and headless screenshots
    xvfb xauth
)
if [[ "${GENREC_DEV_EXTRAS:-0}" == 1 ]]; then
    pkgs+=(python3-torch python3-numpy)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# libopenblas0-openmp registers itself as the libblas.so.3 alternative; make sure it wins over the
# reference BLAS (a 30-40x slower fp32 GEMM, which LibTorch would otherwise call).
if [[ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]]; then
    $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu \
        /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 >/dev/null 2>&1 || true
fi
echo "install-deps: done"
