#!/bin/bash
# Score a cohort as a Slurm job array: each task analyses its own share of
# the photos (`--shard auto` reads SLURM_ARRAY_TASK_ID/COUNT), then one
# dependent job merges the shards. Submit with:  sbatch deploy/slurm-array.sh
#SBATCH --job-name=dermascore
#SBATCH --array=0-15
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=logs/dermascore-%A_%a.log
set -euo pipefail

COHORT=${COHORT:-/data/trial/photos}          # PATIENT/YYYY-MM-DD/*.jpg, or use --manifest
OUT=${OUT:-/data/trial/results}
BIN=${BIN:-$HOME/dermascore/target/release/dermascore}

shard_dir="$OUT/shard-$SLURM_ARRAY_TASK_ID"
# --resume: a preempted or requeued task picks up where it stopped.
"$BIN" analyze "$COHORT" --out "$shard_dir" --shard auto --resume -j "$SLURM_CPUS_PER_TASK"

# The last task to finish does not know it is last; merge in a dependent job:
#   sbatch --dependency=afterok:$SLURM_ARRAY_JOB_ID --wrap \
#     "$BIN merge $OUT/shard-*/results.jsonl --out $OUT/results.jsonl"
