#!/usr/bin/env bash
# peftjs's device check: on a lent NVIDIA H100/H200 machine (no Node, no network there), in one call, it
# unpacks the carried Node and node_modules, builds the addon with CUDA for sm_90, runs the cuda specs, times
# the CUDA backend (time_ops.ts) and PyTorch + HF peft + transformers (torch_baseline.py), and writes
#   $OUT/results.json  everything, merged, with the ratios against the targets (merge.py)
#   $OUT/results.md    the same as tables (also printed last, so the tool's output tail holds it)
#   $OUT/log.txt       every step's full output
#   $OUT/peftjs.json, torch.json, jest.json, nsys.txt   the parts (nsys.txt only where nsys ran)
# results.json/md are rewritten after every step: a run cut short still leaves what it measured.
#
# Before the first call, HERE (not on the device), once per Node version or package change:
#   bash bench/device/pack.sh          # writes .device-carry/ (ignored by git): ~32 MiB of xz tarballs
# Then, with the session's device tool (the working tree travels; .device-carry is carried):
#   run(command="bash bench/device/run.sh", carry=[".device-carry"], timeout_s=600)
# It keeps to a budget of PEFTJS_DEVICE_BUDGET_S (default 480 s) in all, each step with its own timeout,
# continuing after any failure and recording every step's status; expected 5-8 minutes (not yet run on a
# device: the step times below are estimates). Steps and caps: unpack (90 s), build with cmake-js for sm_90
# (300 s; tsc runs beside it, 180 s), specs (150 s), time_ops (220 s: the default GEMM library, then the own
# GEMM kernels with PEFTJS_CUBLASLT=off), torch (160 s), syncs (nsys, 120 s; skipped where nsys is absent),
# each cut to what the budget leaves after keeping time for the timings. The image must have nvcc, cmake
# (or the cmake pip package), a C++ compiler and python3 with torch, transformers and peft.
#
# Options (environment; put them before the command, e.g. "PEFTJS_DEVICE_STEPS=unpack,build,time_ops bash ..."):
#   PEFTJS_DEVICE_STEPS     steps to run (default unpack,build,tsc,specs,time_ops,torch,syncs; merge always runs;
#                           without build, specs/time_ops use PEFTJS_DEVICE_ADDON or build-cmake/Release/peftjs.node)
#   PEFTJS_DEVICE_BUDGET_S  the whole run's budget in seconds (default 480)
#   PEFTJS_DEVICE_ADDON     a built .node to use instead of building (e.g. one built here with nvcc and carried)
#   PEFTJS_DEVICE_TSC=1     run tsc even when dist/ was carried (default: tsc only when dist/ lacks time_ops.js)
#   PEFTJS_DEVICE_SPECS     spec files or folders for jest (default: every spec that mentions a backend or cuda)
#   PEFTJS_DEVICE_PYTHON    the python with torch (default python3)
#   PEFTJS_CARRY_DIR        the carry folder (default .device-carry)
# Carrying dist/ too (carry=[".device-carry", "dist"]) skips tsc (~40 s) when it is fresh.
#
#   bash bench/device/run.sh --dry-run
# runs here, without a GPU: it copies the checkout to a scratch folder, unpacks the carry there, prints the
# cmake-js configure command instead of building, runs tsc and the specs (jest -t cuda on the CPU addon: the
# CUDA entries' checks that need no device) for real, time_ops.js
# with tiny shapes on the native (CPU) addon already built in this checkout (build/Release/peftjs.node, or
# PEFTJS_DEVICE_DRY_ADDON), torch_baseline.py --dry-run (CPU torch where importable), and the merge; $OUT
# defaults to the scratch folder's out/. It writes nothing in the checkout.
set -uo pipefail

SELF=$(readlink -f "$0")
ORIG_REPO=$(cd "$(dirname "$SELF")/../.." && pwd)
if [ "${1:-}" = --step ]; then STEP_MODE=1; else STEP_MODE=0; fi

# ------------------------------------------------------------------ settings (inherited by --step runs)
if [ "$STEP_MODE" = 0 ]; then
  DRY=0
  [ "${1:-}" = --dry-run ] && DRY=1
  if [ "$DRY" = 1 ]; then
    WORK=$(mktemp -d /tmp/peftjs-device-dry.XXXXXX)
    OUT=${OUT:-$WORK/out}
  else
    # It unpacks into node_modules/ and builds into build-cmake/ of the checkout: meant for the device's copy.
    if ! nvidia-smi -L 2>/dev/null | grep -q GPU && [ "${PEFTJS_DEVICE_FORCE:-0}" != 1 ]; then
      echo "run.sh: no NVIDIA GPU here (nvidia-smi -L lists none). This is the device side: run it through the device" \
        "tool, or 'bash bench/device/run.sh --dry-run' here (PEFTJS_DEVICE_FORCE=1 runs it anyway)." >&2
      exit 2
    fi
    WORK=/tmp/peftjs-device
    rm -rf "$WORK"
    if [ -z "${OUT:-}" ]; then OUT=$WORK/out; echo "run.sh: OUT is not set: writing to $OUT" >&2; fi
  fi
  mkdir -p "$WORK" "$OUT"
  REPO=$ORIG_REPO
  CARRY=${PEFTJS_CARRY_DIR:-.device-carry}
  case "$CARRY" in /*) ;; *) CARRY=$ORIG_REPO/$CARRY ;; esac
  NODE_HOME=$WORK/node
  export DRY WORK OUT REPO CARRY NODE_HOME SELF
  export PEFTJS_DEVICE_STEPS=${PEFTJS_DEVICE_STEPS:-unpack,build,tsc,specs,time_ops,torch,syncs}
  export PEFTJS_DEVICE_BUDGET_S=${PEFTJS_DEVICE_BUDGET_S:-480}
  export PEFTJS_DEVICE_PYTHON=${PEFTJS_DEVICE_PYTHON:-python3}
  export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
  export RUN_START
  RUN_START=$(date +%s)
fi
LOG=$OUT/log.txt
STEPS_FILE=$WORK/steps.jsonl

say() { echo "$*" | tee -a "$LOG"; }
elapsed() { echo $(( $(date +%s) - RUN_START )); }
node_bin() { echo "$NODE_HOME/bin/node"; }
addon_path() {  # the build step's addon, else PEFTJS_DEVICE_ADDON, else one an earlier call left in build-cmake/
  if [ -f "$WORK/addon.path" ]; then cat "$WORK/addon.path"
  elif [ -n "${PEFTJS_DEVICE_ADDON:-}" ] && [ -f "$PEFTJS_DEVICE_ADDON" ]; then readlink -f "$PEFTJS_DEVICE_ADDON"
  elif [ "$DRY" = 1 ] && [ -f "${PEFTJS_DEVICE_DRY_ADDON:-}" ]; then echo "$PEFTJS_DEVICE_DRY_ADDON"
  elif [ "$DRY" = 0 ] && [ -f "$REPO/build-cmake/Release/peftjs.node" ]; then echo "$REPO/build-cmake/Release/peftjs.node"
  fi
}
note() { echo "$*" >> "$WORK/$STEP.note"; }   # a line for the step's record
need_node() { [ -x "$(node_bin)" ] || { note "no node: the unpack step failed"; return 1; }; }
first_file() { local f; for f in "$@"; do if [ -f "$f" ]; then echo "$f"; return; fi; done; }

# ------------------------------------------------------------------ the steps (each runs as `run.sh --step NAME`)

# Node into $NODE_HOME, node_modules into the checkout; then checks that both work.
step_unpack() {
  local node_tar=$CARRY/node-linux-x64.tar.xz nm_tar=$CARRY/node_modules.tar.xz
  if [ ! -f "$node_tar" ] || [ ! -f "$nm_tar" ]; then
    note "no carry: $node_tar / $nm_tar missing (run bench/device/pack.sh here and carry .device-carry)"
    return 1
  fi
  extract() {  # tar.xz into a folder: tar + xz where xz exists, else Python's tarfile (lzma is in its standard library)
    if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"
    else "$PEFTJS_DEVICE_PYTHON" -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))' "$1" "$2"
    fi
  }
  mkdir -p "$WORK/node-unpack"
  extract "$node_tar" "$WORK/node-unpack" || { note "cannot unpack $node_tar"; return 1; }
  rm -rf "$NODE_HOME"
  mv "$WORK"/node-unpack/node-v* "$NODE_HOME" || return 1
  "$(node_bin)" --version || { note "the carried node does not run here (glibc too old?)"; return 1; }
  local t0=$SECONDS
  extract "$nm_tar" "$REPO" || { note "cannot unpack $nm_tar"; return 1; }
  echo "node_modules unpacked in $((SECONDS - t0)) s"
  (cd "$REPO" && "$(node_bin)" -e '
    for (const m of ["jest/package.json", "ts-jest/package.json", "typescript/package.json", "cmake-js/package.json", "node-addon-api/package.json", "node-api-headers/package.json"])
      console.log(m.split("/package.json")[0], require(m).version);') || { note "node_modules is incomplete"; return 1; }
  note "node $("$(node_bin)" --version)"
}

# The addon with CUDA for sm_90 through cmake-js (node-api-headers: nothing is downloaded), into build-cmake/.
step_build() {
  cd "$REPO" || return 1
  need_node || return 1
  if [ -n "${PEFTJS_DEVICE_ADDON:-}" ]; then
    local given
    given=$(readlink -f "$PEFTJS_DEVICE_ADDON")
    [ -f "$given" ] || { note "PEFTJS_DEVICE_ADDON=$PEFTJS_DEVICE_ADDON does not exist"; return 1; }
    echo "$given" > "$WORK/addon.path"
    note "not built: PEFTJS_DEVICE_ADDON=$PEFTJS_DEVICE_ADDON"
  else
    local nvcc jobs
    nvcc=$(command -v nvcc || first_file /usr/local/cuda/bin/nvcc)
    jobs=$(nproc 2>/dev/null || echo 8)
    local cmd=("$(node_bin)" node_modules/cmake-js/bin/cmake-js build --out build-cmake --CDCMAKE_CUDA_ARCHITECTURES=90 --parallel "$jobs")
    if [ "$DRY" = 1 ]; then
      echo "dry run: would run: CUDACXX=${nvcc:-nvcc} CUDAARCHS=90 ${cmd[*]}"
      cmd=("$(node_bin)" node_modules/cmake-js/bin/cmake-js print-configure --out build-cmake --CDCMAKE_CUDA_ARCHITECTURES=90)
      "${cmd[@]}" || { note "cmake-js print-configure failed"; return 1; }
      note "dry run: configure command printed, nothing built; nvcc ${nvcc:-not found}, cmake $(command -v cmake || echo 'not found')"
      cp "$PEFTJS_DEVICE_DRY_ADDON" "$WORK/dry-addon.node" && echo "$WORK/dry-addon.node" > "$WORK/addon.path"
      return 0
    fi
    [ -n "$nvcc" ] || { note "nvcc not found"; return 1; }
    export CUDACXX=$nvcc CUDAARCHS=90
    # CMake and ninja may be pip packages of the image's python rather than on PATH.
    local tool dir
    for tool in cmake ninja; do
      if ! command -v "$tool" >/dev/null; then
        dir=$("$PEFTJS_DEVICE_PYTHON" -c "import $tool, os; print(getattr($tool, 'BIN_DIR', None) or getattr($tool, 'CMAKE_BIN_DIR', ''))" 2>/dev/null)
        if [ -n "$dir" ] && [ -x "$dir/$tool" ]; then export PATH=$dir:$PATH; echo "$tool from $dir"; fi
      fi
    done
    command -v cmake >/dev/null || { note "cmake not found"; return 1; }
    echo "nvcc: $nvcc ($("$nvcc" --version | tail -1)); cmake: $(cmake --version | head -1); $jobs jobs"
    "${cmd[@]}" || { note "the cmake-js build failed (see log.txt)"; return 1; }
    local built
    built=$(find build-cmake -name peftjs.node -type f | head -1)
    [ -n "$built" ] || { note "the build made no peftjs.node"; return 1; }
    readlink -f "$built" > "$WORK/addon.path"
  fi
  # The addon loads, was built with CUDA, and sees the GPU.
  PEFTJS_ADDON=$(addon_path) "$(node_bin)" -e '
    const i = require(process.env.PEFTJS_ADDON).info();
    console.log(JSON.stringify(i));
    if (!i.cudaCompiled || i.cudaDevices < 1) { console.error("no usable CUDA in this addon: " + (i.cudaUnavailableReason || "")); process.exit(1); }' ||
    { note "the addon has no usable CUDA"; return 1; }
}

# dist/ from the TypeScript (runs beside the build: tsc is one CPU thread).
step_tsc() {
  cd "$REPO" || return 1
  need_node || return 1
  if [ -f dist/bench/device/time_ops.js ] && [ "${PEFTJS_DEVICE_TSC:-0}" != 1 ] && [ "$DRY" = 0 ]; then
    note "dist/ was carried: tsc not run (PEFTJS_DEVICE_TSC=1 runs it)"
    return 0
  fi
  "$(node_bin)" node_modules/typescript/bin/tsc -p tsconfig.json | tee "$WORK/tsc.errors"
  local rc=${PIPESTATUS[0]} n others
  [ "$rc" = 0 ] && return 0
  # bench/tfjs_*.ts import @tensorflow/tfjs, which the carry leaves out (~300 MB): their errors are expected.
  n=$(grep -c 'error TS' "$WORK/tsc.errors")
  others=$(grep 'error TS' "$WORK/tsc.errors" | grep -vE '^bench/tfjs_[a-z_]+\.ts' || true)
  if [ -z "$others" ] && [ -f dist/bench/device/time_ops.js ]; then
    note "dist/ emitted; $n type errors, all in bench/tfjs_*.ts (@tensorflow/tfjs is not carried)"
    return 0
  fi
  note "$(echo "$others" | grep -c .) type errors outside bench/tfjs_*.ts, first: $(echo "$others" | head -1)"
  return "$rc"
}

# The specs that run on every backend present, filtered to the cuda ones, on the built addon.
step_specs() {
  cd "$REPO" || return 1
  need_node || return 1
  local addon files
  addon=$(addon_path)
  [ -n "$addon" ] || { note "no addon built"; return 1; }
  if [ -n "${PEFTJS_DEVICE_SPECS:-}" ]; then
    read -r -a files <<< "$PEFTJS_DEVICE_SPECS"
  else
    mapfile -t files < <(grep -rlE 'backendsUnderTest|backendsWithKernels|cuda' test --include='*.test.ts' | grep -v 'large-tensors' | sort)
  fi
  # The repo's jest config with ts-jest transpiling only (isolatedModules: no type check per file: ~3x faster).
  cat > "$WORK/jest.device.config.js" <<EOF
const base = require('$REPO/jest.config.js');
module.exports = { ...base, rootDir: '$REPO', cacheDirectory: '$WORK/jest-cache',
  transform: { '^.+\\\\.ts\$': ['ts-jest', { tsconfig: '$REPO/tsconfig.test.json', isolatedModules: true, diagnostics: false }] } };
EOF
  echo "${#files[@]} spec files, tests named like /cuda/i, addon $addon"
  PEFTJS_ADDON=$addon "$(node_bin)" --expose-gc node_modules/jest/bin/jest.js --config "$WORK/jest.device.config.js" --ci \
    --testNamePattern cuda --json --outputFile "$WORK/jest.json" "${files[@]}"
  local rc=$?
  cp "$WORK/jest.json" "$OUT/jest.json" 2>/dev/null
  "$PEFTJS_DEVICE_PYTHON" -c 'import json, sys
j = json.load(open(sys.argv[1]))
print("%s passed, %s failed, %s skipped" % (j["numPassedTests"], j["numFailedTests"], j["numPendingTests"]))' "$WORK/jest.json" > "$WORK/specs.count" 2>/dev/null &&
    note "$(cat "$WORK/specs.count")"
  return "$rc"
}

step_time_ops() {
  cd "$REPO" || return 1
  need_node || return 1
  local addon
  addon=$(addon_path)
  [ -n "$addon" ] || { note "no addon built"; return 1; }
  [ -f dist/bench/device/time_ops.js ] || { note "dist/bench/device/time_ops.js is missing (tsc failed?)"; return 1; }
  # Everything on the default GEMM library (cuBLASLt where it loads), then, with the time left, the own
  # GEMM kernels alone: PEFTJS_CUBLASLT=off keeps cuBLASLt unloaded in that process.
  local own=0
  [ "$STEP_TIMEOUT" -ge 150 ] && own=45
  local args=(--out "$OUT/peftjs.json" --budget-s "$(( STEP_TIMEOUT - 15 - own > 25 ? STEP_TIMEOUT - 15 - own : 25 ))")
  [ "$DRY" = 1 ] && args+=(--dry-run)
  PEFTJS_ADDON=$addon "$(node_bin)" dist/bench/device/time_ops.js "${args[@]}"
  local rc=$?
  if [ "$own" -gt 0 ]; then
    args=(--out "$WORK/peftjs_own.json" --only gemm --gemm-variants "fp32,bf16" --budget-s "$((own - 5))")
    [ "$DRY" = 1 ] && args+=(--dry-run)
    echo "-- the own GEMM kernels (PEFTJS_CUBLASLT=off)"
    PEFTJS_CUBLASLT=off PEFTJS_ADDON=$addon "$(node_bin)" dist/bench/device/time_ops.js "${args[@]}" ||
      note "the own-kernel GEMM run failed"
  else
    note "no time left for the own-kernel GEMM run"
  fi
  return "$rc"
}

step_torch() {
  cd "$REPO" || return 1
  local args=(--out "$OUT/torch.json" --budget-s "$(( STEP_TIMEOUT > 40 ? STEP_TIMEOUT - 15 : 25 ))")
  [ "$DRY" = 1 ] && args+=(--dry-run)
  "$PEFTJS_DEVICE_PYTHON" bench/device/torch_baseline.py "${args[@]}"
  local rc=$?
  "$PEFTJS_DEVICE_PYTHON" -c 'import json, sys
e = json.load(open(sys.argv[1])).get("error")
print(e or "", end="")' "$OUT/torch.json" > "$WORK/torch.error" 2>/dev/null
  if [ -s "$WORK/torch.error" ]; then note "$(cat "$WORK/torch.error")"; fi
  return "$rc"
}

# Host synchronisations per step from nsys, where nsys is there and makes reports.
step_syncs() {
  cd "$REPO" || return 1
  local nsys
  nsys=$(command -v nsys || first_file /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys /usr/local/nsight-systems*/bin/nsys)
  unavailable() { echo "{\"unavailable\": \"$1\"}" > "$WORK/syncs.json"; note "$1"; }
  if [ "$DRY" = 1 ]; then unavailable "dry run: nsys not run"; return 0; fi
  if [ -z "$nsys" ]; then unavailable "nsys not found (PATH, /usr/local/cuda*/bin, /opt/nvidia/nsight-systems*)"; return 0; fi
  local addon k
  addon=$(addon_path)
  if [ -z "$addon" ] || [ ! -f dist/bench/device/time_ops.js ]; then unavailable "no addon or dist to profile"; return 1; fi
  : > "$OUT/nsys.txt"
  for k in 1 3; do
    PEFTJS_ADDON=$addon "$nsys" profile --trace=cuda --sample=none --cpuctxsw=none --force-overwrite=true -o "$WORK/prof$k" \
      "$(node_bin)" dist/bench/device/time_ops.js --only step --step-warmup 1 --profile-steps "$k" --out "$WORK/prof$k.json" ||
      { unavailable "nsys profile failed ($nsys)"; return 1; }
    local rep
    rep=$(first_file "$WORK/prof$k".nsys-rep "$WORK/prof$k".qdrep)
    [ -n "$rep" ] || { unavailable "nsys made no report (only: $(cd "$WORK" && echo prof"$k"*))"; return 1; }
    "$nsys" stats --report cuda_api_sum --format csv --output - "$rep" > "$WORK/api$k.csv" 2>>"$WORK/nsys.err" ||
      "$nsys" stats --report cudaapisum --format csv --output - "$rep" > "$WORK/api$k.csv" 2>>"$WORK/nsys.err" ||
      { unavailable "nsys stats failed: $(tail -1 "$WORK/nsys.err")"; return 1; }
    { echo "== K=$k ($rep)"; cat "$WORK/api$k.csv"; } >> "$OUT/nsys.txt"
  done
  "$PEFTJS_DEVICE_PYTHON" bench/device/nsys_syncs.py "$WORK/api1.csv" "$WORK/api3.csv" 2 "$WORK/syncs.json"
}

# ------------------------------------------------------------------ the runner

if [ "$STEP_MODE" = 1 ]; then
  STEP=$2
  export STEP
  "step_$STEP"
  exit $?
fi

# What the machine is (no step: never fails the run).
describe_machine() {
  local gpu driver nvcc_v
  gpu=$(nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1)
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
  nvcc_v=$("$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" --version 2>/dev/null | grep -oE 'release [0-9.]+' | head -1)
  "$PEFTJS_DEVICE_PYTHON" - "$WORK/env.json" "${gpu:-none}" "${driver:--}" "${nvcc_v:--}" "$(uname -r)" "$(nproc)" \
    "$("$(node_bin)" --version 2>/dev/null || echo -)" <<'EOF' 2>/dev/null || echo '{}' > "$WORK/env.json"
import json, sys
out, gpu, driver, nvcc, kernel, cpus, node = sys.argv[1:8]
json.dump({"gpu": gpu, "driver": driver, "nvcc": nvcc, "kernel": kernel, "cpus": int(cpus), "node": node}, open(out, "w"), indent=2)
EOF
}

merge() {
  local gen
  gen=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local args=(--steps "$STEPS_FILE" --peftjs "$OUT/peftjs.json" --peftjs-own "$WORK/peftjs_own.json" --torch "$OUT/torch.json" --jest "$WORK/jest.json"
              --syncs "$WORK/syncs.json" --env "$WORK/env.json" --out-json "$OUT/results.json" --out-md "$OUT/results.md" --generated "$gen")
  [ "$DRY" = 1 ] && args+=(--dry-run)
  "$PEFTJS_DEVICE_PYTHON" "$REPO/bench/device/merge.py" "${args[@]}" >> "$LOG" 2>&1 || say "merge.py failed (see log.txt)"
}

record() {  # name status rc seconds timeout
  local note_text=""
  [ -f "$WORK/$1.note" ] && note_text=$(tr '\n' ';' < "$WORK/$1.note" | sed 's/;$//')
  "$PEFTJS_DEVICE_PYTHON" -c 'import json, sys
n, s, rc, sec, to, note = sys.argv[1:7]
print(json.dumps({"name": n, "status": s, "rc": int(rc), "seconds": int(sec), "timeout_s": int(to), "note": note}))' \
    "$1" "$2" "$3" "$4" "$5" "$note_text" >> "$STEPS_FILE"
  say "   -> $1: $2 (rc $3, $4 s${note_text:+; $note_text})"
}

selected() { [[ ",$PEFTJS_DEVICE_STEPS," == *",$1,"* ]]; }

# timeout for a step: its cap, or what the budget leaves after `reserve` seconds kept for later steps.
step_timeout() {  # cap reserve
  local left=$(( PEFTJS_DEVICE_BUDGET_S - $(elapsed) - $2 ))
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}

launch() {  # name timeout: runs the step in the background, its output in $WORK/name.log
  STEP_TIMEOUT=$2 timeout -k 10 "$2" bash "$SELF" --step "$1" > "$WORK/$1.log" 2>&1 &
  echo $! > "$WORK/$1.pid"
  date +%s > "$WORK/$1.start"
}

finish() {  # name timeout: waits for a launched step, records it, appends its log
  local pid rc status secs
  pid=$(cat "$WORK/$1.pid")
  wait "$pid"
  rc=$?
  secs=$(( $(date +%s) - $(cat "$WORK/$1.start") ))
  case $rc in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status=failed ;;
  esac
  { echo "---- $1 (timeout $2 s) ----"; cat "$WORK/$1.log"; } >> "$LOG"
  tail -n 12 "$WORK/$1.log" | sed 's/^/   | /'
  record "$1" "$status" "$rc" "$secs" "$2"
  merge
}

run_step() {  # name cap reserve [min]: runs a selected step in the foreground within the budget
  local name=$1 cap=$2 reserve=$3 min=${4:-20} t
  if ! selected "$name"; then record "$name" skipped 0 0 0; return; fi
  t=$(step_timeout "$cap" "$reserve")
  if [ "$t" -lt "$min" ]; then echo "only $t s left in the budget" > "$WORK/$name.note"; record "$name" "skipped: budget" 0 0 0; return; fi
  say "== $name (timeout ${t} s, at $(elapsed) s)"
  launch "$name" "$t"
  finish "$name" "$t"
}

if [ "$DRY" = 1 ]; then
  # A scratch copy of the checkout: nothing below writes in the real one.
  export PEFTJS_DEVICE_DRY_ADDON=${PEFTJS_DEVICE_DRY_ADDON:-$ORIG_REPO/build/Release/peftjs.node}
  mkdir -p "$WORK/repo"
  tar -C "$ORIG_REPO" --exclude=./node_modules --exclude=./dist --exclude='./build*' --exclude=./.git --exclude=./prebuilds \
    --exclude="./$(basename "$CARRY")" --exclude=__pycache__ -cf - . | tar -C "$WORK/repo" -xf -
  REPO=$WORK/repo
  export REPO
  say "DRY RUN in $WORK (checkout copied to $REPO; addon for timings: $PEFTJS_DEVICE_DRY_ADDON)"
fi
say "peftjs device check: steps $PEFTJS_DEVICE_STEPS, budget $PEFTJS_DEVICE_BUDGET_S s, out $OUT"
: > "$STEPS_FILE"

run_step unpack 90 0 5
describe_machine
# tsc beside the build (one CPU thread against the compilers' many).
tsc_t=0
if selected tsc; then
  tsc_t=$(step_timeout 180 165)
  if [ "$tsc_t" -ge 20 ]; then
    say "== tsc (beside the build; timeout ${tsc_t} s, at $(elapsed) s)"
    launch tsc "$tsc_t"
  else
    record tsc "skipped: budget" 0 0 0
    tsc_t=0
  fi
else
  record tsc skipped 0 0 0
fi
run_step build 300 165 30
if [ "$tsc_t" -gt 0 ]; then finish tsc "$tsc_t"; fi
run_step specs 150 165 30
run_step time_ops 220 75 40
run_step torch 160 15 40
run_step syncs 120 15 60
merge
say "== done in $(elapsed) s: $OUT/results.md"
cat "$OUT/results.md"
