#!/usr/bin/env bash
# Runs one fuzz target with cargo-fuzz (libFuzzer): fuzz/run.sh TARGET [SECONDS].
# The machine's toolchain is stable; cargo-fuzz needs nightly flags, so RUSTC_BOOTSTRAP=1 enables
# them. Seeds come from the fixture images (fixtures/build.sh) so the fuzzer starts from real
# structures. Crashes land in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]  (targets: $(ls fuzz_targets | sed 's/\.rs$//' | tr '\n' ' '))}
secs=${2:-60}
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz
export RUSTC_BOOTSTRAP=1
corpus="corpus/$target"; mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ] && [ -d ../fixtures/build ]; then
  # seed with the first 1 MiB of every fixture image (enough for every table and superblock)
  for f in ../fixtures/build/*.raw ../fixtures/build/*.qcow2 ../fixtures/demo.qcow2; do
    [ -e "$f" ] && head -c 1048576 "$f" > "$corpus/$(basename "$f")"
  done
fi
cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576
