#!/bin/sh
# Runs the studies' committed flagfiles one after another, from the repo root
# (each is resumable: rerunning skips what is stored). The full (d),
# d_inits100.flags, is left out: run it on its own (a few CPU hours).
#   sh experiments/naswot_studies/run_studies.sh [a|b|c|d_reduced ...]
set -e
cd "$(dirname "$0")/../.."
D=experiments/naswot_studies
PY=${PYTHON:-python}
studies=${*:-a b c d_reduced}
for study in $studies; do
  case $study in
    a) for s in $(seq 0 19); do
         $PY run.py --flagfile=$D/a_batches.flags --data_seed=$s \
           --output=$D/a_batches/data_seed_$s
       done ;;
    b) $PY run.py --flagfile=$D/b_inits.flags ;;
    c) for b in 32 64 128 256; do
         $PY run.py --flagfile=$D/c_batch_$b.flags
       done ;;
    d_reduced) $PY run.py --flagfile=$D/d_inits30_reduced.flags ;;
    d) $PY run.py --flagfile=$D/d_inits100.flags ;;
    *) echo "unknown study $study" >&2; exit 2 ;;
  esac
done
