#!/usr/bin/env bash
# Submit the whole chain: Aff-Wild2 shards (an array job) → merge (afterok) → training (afterok).
#
#   AFFWILD2=/data/Aff-Wild2 EXPW=/data/ExpW OUT=$PWD/data/darknet scripts/slurm/submit.sh --shards 32
#
# Options: --shards N (array tasks, default 16), --no-train (stop after the merge). The jobs read
# the environment described in each .sbatch file (sbatch passes it on). A job whose dependency
# fails is cancelled (--kill-on-invalid-dep): re-run the shards the merge names, then submit the
# merge (and training) again. Prints the job ids, one "name id" per line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shards=16
train=1
while [ $# -gt 0 ]; do
    case $1 in
        --shards) shards=$2; shift 2 ;;
        --no-train) train=0; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "submit.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
: "${AFFWILD2:?set AFFWILD2 to the Aff-Wild2 folder}" "${OUT:?set OUT to the output folder}"
if ! [ "$shards" -ge 1 ] 2>/dev/null; then
    echo "submit.sh: --shards $shards: give a whole number of 1 or more" >&2
    exit 2
fi
submit() { sbatch --parsable "$@" | cut -d';' -f1; }
convert=$(submit --array="0-$((shards - 1))" "$here/affwild2-shards.sbatch")
echo "shards $convert"
merge=$(submit --dependency="afterok:$convert" --kill-on-invalid-dep=yes "$here/datasets-merge.sbatch")
echo "merge $merge"
if [ "$train" = 1 ]; then
    echo "train $(submit --dependency="afterok:$merge" --kill-on-invalid-dep=yes "$here/train.sbatch")"
fi
