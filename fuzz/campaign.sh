#!/usr/bin/env bash
# Runs a recorded campaign: fuzz/campaign.sh STOP_AT TARGET:SECONDS...  One target at a time, one
# process, each until 10^6 executions or SECONDS (whichever comes first) and never past STOP_AT
# (a `date -d` time). Logs to fuzz/logs/TARGET-DATE.log; a summary line per target goes to
# fuzz/logs/campaign-DATE.txt. The seed copies of the fixture images are removed afterwards
# (run.sh re-creates them for an empty corpus), so the corpora stay small.
set -uo pipefail
cd "$(dirname "$0")"
stop=$(date -d "${1:?usage: campaign.sh STOP_AT TARGET:SECONDS...}" +%s); shift
mkdir -p logs; day=$(date -u +%F); summary="logs/campaign-$day.txt"
for spec in "$@"; do
  t=${spec%%:*}; secs=${spec#*:}
  left=$(( stop - $(date +%s) ))
  [ "$left" -lt 30 ] && { echo "$t: not run (out of time)" | tee -a "$summary"; continue; }
  [ "$secs" -gt "$left" ] && secs=$left
  log="logs/$t-$day.log"
  start=$(date +%s)
  nice -n 19 ./run.sh "$t" "$secs" -runs=1000000 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  el=$(( $(date +%s) - start ))
  done_line=$(grep -a '^Done [0-9]* runs' "$log" | tail -1)
  last=$(grep -a -E '^#[0-9]+' "$log" | tail -1)
  art=$(grep -a -o 'Test unit written to [^ ]*' "$log" | tail -1)
  echo "$t rc=$rc wall=${el}s | ${done_line:-no Done line} | $last | ${art:-no artifact}" | tee -a "$summary"
  # drop the seed copies (fixture names); keep what libFuzzer added (sha1 names)
  find "corpus/$t" -maxdepth 1 -type f ! -regex '.*/[0-9a-f]\{40\}' -delete 2>/dev/null
done
