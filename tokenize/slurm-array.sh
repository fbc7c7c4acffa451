#!/usr/bin/env bash
# Tokenize one BIGOS-v2 split with one codec as a Slurm array job: one shard per task.
#   sbatch --array=0-15 tokenize/slurm-array.sh encodec-24khz-6kbps test /scratch/bigos-v2-tokens
# A killed task, resubmitted with the same arguments, resumes its shard.
#SBATCH --job-name=kodek-tokenize
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
set -euo pipefail
codec=$1
split=$2
out=$3
kodek tokenize --codec "$codec" --data bigos --split "$split" --out "$out" --device cuda \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
