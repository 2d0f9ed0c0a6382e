#!/usr/bin/env bash
# gate-images.sh IMAGE...: the OpenStack gatekeeper for images about to be uploaded to Glance.
# For each image: vimage-info (safe to open? headers only), then vinspect --glance (the
# properties to upload it with) and vsysprep --audit (the image guide's checks). Prints one
# block per image and, per image, a verdict line:
#   IMAGE: PASS   properties: openstack image set --property … IMAGE
#   IMAGE: FAIL   (unsafe | audit failed | unreadable | no operating system)
# Exit status: 0 when every image passes, 1 when any fails. The vguestfs tools must be on PATH.
# AUDIT_IGNORE="check …" waives audit checks (vsysprep --audit-ignore; names: vsysprep --help).
# Needs no privilege: run it as any user who can read the images.
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: gate-images.sh IMAGE..." >&2; exit 2; }
failed=0
ignore=()
for c in ${AUDIT_IGNORE:-}; do ignore+=(--audit-ignore "$c"); done
for img in "$@"; do
  echo "== $img"
  info=$(vimage-info --json "$img"); rc=$?
  if [ $rc -ne 0 ]; then
    echo "$info"
    if [ $rc -eq 1 ]; then echo "$img: FAIL   unsafe (vimage-info)"; else echo "$img: FAIL   unreadable (vimage-info)"; fi
    failed=1; continue
  fi
  fmt=$(printf '%s' "$info" | sed -n 's/.*"format": *"\([a-z0-9]*\)".*/\1/p' | sed -n 1p)
  # (vinspect's warnings, e.g. a missing virtio driver, go to stderr as they are)
  if ! props=$(vinspect --format="$fmt" --glance -a "$img"); then
    echo "$img: FAIL   no operating system (vinspect)"; failed=1; continue
  fi
  vsysprep --format="$fmt" --audit ${ignore[@]+"${ignore[@]}"} -a "$img"; rc=$?
  if [ $rc -ne 0 ]; then
    echo "$img: FAIL   audit failed (vsysprep --audit; waive a check with --audit-ignore)"; failed=1; continue
  fi
  echo "$img: PASS   properties: $props"
done
exit $failed
