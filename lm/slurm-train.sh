#!/usr/bin/env bash
# Train and evaluate the SpeechLLM adapter of one codec on a Slurm cluster (one node, N GPUs).
#   sbatch lm/slurm-train.sh encodec-24khz-6kbps ORG/bigos-v2-tokens bielik-1.5b /scratch/kodek
# One job per codec: loop over codec ids, or submit an array whose task id picks a line of a codec list:
#   sbatch --array=0-9 lm/slurm-train.sh @codecs.txt ORG/bigos-v2-tokens bielik-1.5b /scratch/kodek
# A job killed by its time limit, resubmitted with the same arguments, resumes from the run's last.pt.
#SBATCH --job-name=kodek-lm
#SBATCH --nodes=1
#SBATCH --gres=gpu:4
#SBATCH --cpus-per-task=16
#SBATCH --mem=128G
#SBATCH --time=24:00:00
set -euo pipefail
codec=$1
tokens=$2
config=$3
work=$4
if [[ $codec == @* ]]; then
  codec=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "${codec#@}")
fi
# The GPUs Slurm gave this job (not every GPU of the node): SLURM_GPUS_ON_NODE, else CUDA_VISIBLE_DEVICES.
if [[ -n ${SLURM_GPUS_ON_NODE:-} ]]; then
  gpus=$SLURM_GPUS_ON_NODE
elif [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
  IFS=, read -ra visible <<<"$CUDA_VISIBLE_DEVICES"
  gpus=${#visible[@]}
else
  gpus=1
fi
# A rendezvous port of this job's own (jobs sharing a node must not collide): derived from the job id.
port=$((20000 + ${SLURM_JOB_ID:-$$} % 20000))
args=(--codec "$codec" --tokens "$tokens" --config "$config" --device cuda --runs "$work/runs" --quiet)
# Training on the job's GPUs (DDP through accelerate; the global batch is the config's whatever their number),
# then evaluation on one.
if ((gpus > 1)); then
  accelerate launch --multi_gpu --num_processes "$gpus" --main_process_port "$port" -m kodek lm train "${args[@]}"
else
  python -m kodek lm train "${args[@]}"
fi
python -m kodek lm eval "${args[@]}" --out "$work/results"
python -m kodek lm speech --codec "$codec" --tokens "$tokens" --config "$config" --device cuda --quiet \
  --out "$work/results"
