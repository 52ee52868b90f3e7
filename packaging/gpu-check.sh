#!/usr/bin/env bash
# GPU check of the engine on a machine that has a CUDA-enabled PyTorch wheel (its LibTorch is
# used) but no package registry. Two phases:
#
#   bash packaging/gpu-check.sh prepare   # here (Debian 12, network): apt-get download the Debian
#                                         # packages the engine builds with into .gpudeps/
#   bash packaging/gpu-check.sh run       # there (repo root, .gpudeps carried): unpack them into a
#                                         # prefix, build genrec + gpu_check against the wheel's
#                                         # LibTorch, run the checks; results as JSON lines
#   bash packaging/gpu-check.sh dry-run   # here: the run phase against Debian's CPU LibTorch,
#                                         # configure only (no GPU needed)
#
# Checks (packaging/gpu-check/gpu_check.cpp, all through the engine's own model/loss/optimiser):
# forward parity CUDA fp32 / bf16 vs CPU fp32 on a tiny random checkpoint, a 30-step training smoke
# on CUDA, bf16 GEMM ceiling, preset:0.5b bf16 training throughput (tokens/s, 6·N·tokens TFLOP/s,
# MFU vs the measured GEMM) and peak CUDA memory for full vs lora vs freeze; then `genrec devices`,
# a `device: cuda` run through `genrec train` (preset:tiny, bf16, 30 SFT steps with a valid loss
# and ranking evaluation, a stop + `genrec resume` from the step-15 checkpoint, then the eval
# stage; the run must finish with cuda_mem_mb and test HR/NDCG stored) and a 2-rank CPU SFT
# smoke (Gloo, when the wheel ships Gloo headers).
# Budget: build ~4 min on 16 cores, checks ~2.5 min; every step has a timeout; total < 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
DEPS=.gpudeps
PKGS="libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libsqlite3-dev libspdlog-dev libspdlog1.10
      libfmt-dev libfmt9 libcli11-dev libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2
      pkgconf-bin libopenblas0-pthread libopenblas-dev libblas3 libblas-dev"
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
say() { echo "gpu-check: $*" >&2; }

if [ "$mode" = prepare ]; then
    grep -qx '/.gpudeps/' .git/info/exclude 2>/dev/null || echo '/.gpudeps/' >> .git/info/exclude
    mkdir -p "$DEPS" && (cd "$DEPS" && apt-get download $PKGS) || exit 1
    du -sh "$DEPS"
    exit 0
fi

PREFIX=/tmp/gpudeps
rm -rf "$PREFIX" && mkdir -p "$PREFIX"
for f in "$DEPS"/*.deb; do dpkg -x "$f" "$PREFIX" || { say "cannot unpack $f"; exit 1; }; done
export PATH="$PREFIX/usr/bin:$PATH"
export PKG_CONFIG_PATH="$PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$PREFIX/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$PREFIX"
export LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Debian's libblas.so / libopenblas.so are alternatives symlinks under /etc: point them here.
OB="$PREFIX/usr/lib/x86_64-linux-gnu/openblas-pthread"
[ -e "$OB/libblas.so.3" ] && ln -sf "$OB/libblas.so.3" "$PREFIX/usr/lib/x86_64-linux-gnu/libblas.so.3" \
    && ln -sf libblas.so.3 "$PREFIX/usr/lib/x86_64-linux-gnu/libblas.so"
CMAKE_ARGS=(-DCMAKE_PREFIX_PATH="$PREFIX/usr" -DCMAKE_BUILD_TYPE=Release
            -DBLAS_LIBRARIES="$PREFIX/usr/lib/x86_64-linux-gnu/libblas.so")

if [ "$mode" = dry-run ]; then
    TORCH_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch
    timeout 120 cmake -S packaging/gpu-check -B build-gpu-dry -G Ninja -DTorch_DIR="$TORCH_DIR" "${CMAKE_ARGS[@]}" \
        2>&1 | tail -n 15
    exit "${PIPESTATUS[0]}"
fi

PY=${PYTHON:-python3}
TORCH_DIR=$($PY -c 'import torch,os;print(os.path.join(torch.utils.cmake_prefix_path,"Torch"))') || { say "no torch in $PY"; exit 1; }
NCCL_INCLUDE_DIR=$($PY -c 'import nvidia.nccl,os;print(os.path.join(list(nvidia.nccl.__path__)[0],"include"))' 2>/dev/null || true)
export NCCL_INCLUDE_DIR
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
$PY -c 'import torch;print("torch",torch.__version__,"cuda",torch.version.cuda,torch.cuda.get_device_name(0))' | tee "$OUT/torch.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$OUT/torch.txt" 2>/dev/null

say "configure (Torch_DIR=$TORCH_DIR, nccl=${NCCL_INCLUDE_DIR:-none})"
timeout 180 cmake -S packaging/gpu-check -B build-gpu -G Ninja -DTorch_DIR="$TORCH_DIR" "${CMAKE_ARGS[@]}" \
    > "$OUT/configure.log" 2>&1 || { tail -n 40 "$OUT/configure.log"; exit 1; }
grep "genrec dist" "$OUT/configure.log"
say "build"
timeout 300 cmake --build build-gpu -j"$(nproc)" --target gpu_check genrec > "$OUT/build.log" 2>&1 \
    || { grep -m 20 -B2 -A8 "error" "$OUT/build.log"; tail -n 20 "$OUT/build.log"; exit 1; }
export LD_LIBRARY_PATH="$(dirname "$TORCH_DIR")/../../lib:$LD_LIBRARY_PATH"

rc=0
say "devices"
timeout 60 build-gpu/bin/genrec devices --json | tee "$OUT/devices.json" || rc=1
say "gpu_check (parity, train smoke, gemm, 0.5b throughput and memory)"
timeout 240 build-gpu/bin/gpu_check | tee "$OUT/gpu_check.jsonl" || rc=1
T=$(mktemp -d)
timeout 30 build-gpu/bin/genrec data synth --out "$T/data" --users 60 --items 48 >/dev/null || rc=1
say "SFT + eval on device: cuda through genrec train (stop at step 15, resume, finish)"
cat > "$T/cuda.yaml" <<YAML
model_name_or_path: preset:tiny
dataset_dir: $T/data
output_dir: $T/cuda-out
stages: [sft, eval]
device: cuda
gpu_ids: [0]
bf16: true
num_threads: 2
cutoff_len: 128
sft:
  tasks: [sid_seq2sid]
  eval_ranking: true
  eval_max_samples: 16
  early_stopping_patience: 0
  max_steps: 30
  learning_rate: 0.003
  per_device_train_batch_size: 8
  gradient_accumulation_steps: 2
  eval_steps: 15
  save_steps: 15
eval:
  num_beams: 10
  topk: [1, 5, 10]
YAML
CS="$T/cuda.db"
# `runs stop` from another process after the first checkpoint exists, then `genrec resume`.
( for _ in $(seq 1 600); do
      ls "$T/cuda-out/checkpoints" 2>/dev/null | grep -q 'sft-step15$' && { build-gpu/bin/genrec --store "$CS" runs stop 1 >/dev/null 2>&1; break; }
      sleep 0.1
  done ) &
watcher=$!
timeout 120 build-gpu/bin/genrec --store "$CS" --json train "$T/cuda.yaml" > "$OUT/cuda_sft.jsonl" 2>&1
first=$?
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
if [ "$first" = 130 ]; then
    timeout 120 build-gpu/bin/genrec --store "$CS" --json resume 1 >> "$OUT/cuda_sft.jsonl" 2>&1 || rc=1
elif [ "$first" != 0 ]; then
    rc=1
fi
timeout 30 build-gpu/bin/genrec --store "$CS" --json runs show 1 > "$OUT/cuda_run.json" 2>&1 || rc=1
$PY - "$OUT/cuda_run.json" "$first" <<'PYCHECK' | tee "$OUT/cuda_sft_check.json" || rc=1
import json, sys
r = json.load(open(sys.argv[1]))
m = r.get("last_metrics", {})
ok = r.get("status") == "finished" and m.get("cuda_mem_mb", -1) > 0 and "test_hr@10" in m
print(json.dumps({"check": "cuda_sft", "ok": ok, "status": r.get("status"), "first_exit": int(sys.argv[2]),
                  "loss": m.get("loss"), "eval_loss": m.get("eval_loss"), "cuda_mem_mb": m.get("cuda_mem_mb"),
                  "cuda_max_mem_mb": m.get("cuda_max_mem_mb"), "test_hr@10": m.get("test_hr@10"),
                  "test_ndcg@10": m.get("test_ndcg@10"), "error": r.get("error")}))
sys.exit(0 if ok else 1)
PYCHECK
say "SFT smoke through genrec train (2 CPU ranks, zero_stage 2)"
cat > "$T/run.yaml" <<YAML
model_name_or_path: preset:tiny
dataset_dir: $T/data
output_dir: $T/out
stages: [sft]
num_threads: 2
cutoff_len: 128
nproc_per_node: 2
zero_stage: 2
sft:
  tasks: [sid_seq2sid]
  eval_ranking: false
  max_steps: 20
  per_device_train_batch_size: 4
  gradient_accumulation_steps: 2
  eval_steps: 10
  save_steps: 10
YAML
timeout 120 build-gpu/bin/genrec --store "$T/runs.db" --json train "$T/run.yaml" > "$OUT/sft_smoke.jsonl" 2>&1 || rc=1
grep '"done"' "$OUT/sft_smoke.jsonl" || tail -n 5 "$OUT/sft_smoke.jsonl"
say "exit $rc"
exit $rc
