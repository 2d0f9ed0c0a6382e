#!/usr/bin/env bash
# Issue 22 item 2: inflate speed of miniz_oxide (imago's), zlib-rs and libdeflate on every
# compressed cluster of the compressed fixtures and of bench/build/host-usr-c.qcow2 (real
# binaries; bench/mk-compressed.sh builds it). Prints a markdown table per image set.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/mk-compressed.sh >/dev/null
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/inflate-bench
(cd bench/inflate && cargo build --release -q)
bin=$CARGO_TARGET_DIR/release/inflate-bench
$bin fixtures/build/qcow2-compressed.qcow2 bench/build/guest-ubuntu-c.qcow2 bench/build/guest-el9-c.qcow2
$bin bench/build/host-usr-c.qcow2
