#!/usr/bin/env bash
# Runs several training configurations side by side on one GPU machine and
# collects their logs and checkpoints in one tarball under $OUT (the GPU
# machine's output folder) or, elsewhere, train/runs/sweep/.
set -u
export FASHION_MNIST_DIR=$PWD/train/data PYTHONUNBUFFERED=1
mkdir -p /tmp/sw
base="--grouping repeat --widths 64 --blocks 2 --qat-epochs 3 --val 5000 --device cuda"
run() { name=$1; shift; timeout ${LIMIT:-540} python3 train/train.py $base "$@" --out /tmp/sw/$name.pt > /tmp/sw/$name.log 2>&1 & }
if [ "${SWEEP:-1}" = 1 ]; then
run e60s1   --T 2 --epochs 60 --lr 5e-3 --seed 1
run e60s2   --T 2 --epochs 60 --lr 5e-3 --seed 2
run e60s3   --T 2 --epochs 60 --lr 5e-3 --seed 3
run e60a1   --T 2 --epochs 60 --lr 5e-3 --seed 1 --aug-shift 1
run e60a2   --T 2 --epochs 60 --lr 5e-3 --seed 2 --aug-shift 1
run e60ls   --T 2 --epochs 60 --lr 5e-3 --seed 1 --label-smoothing 0.1
run e60t4   --T 4 --epochs 60 --lr 5e-3 --seed 1
run e60t3   --T 3 --epochs 60 --lr 5e-3 --seed 1
run e100s1  --T 2 --epochs 100 --lr 5e-3 --seed 1
run e60lr3  --T 2 --epochs 60 --lr 3e-3 --seed 1
run e60b256 --T 2 --epochs 60 --lr 7e-3 --seed 1 --batch 256
run e40s1   --T 2 --epochs 40 --lr 5e-3 --seed 1
elif [ "${SWEEP}" = 2 ]; then
# second round: batch 256, which the first round favoured, over seeds and neighbours;
# e60b256r repeats round 1's e60b256 to check that a GPU run is deterministic
run e60b256r --T 2 --epochs 60 --lr 7e-3 --seed 1 --batch 256
run b256s2   --T 2 --epochs 60 --lr 7e-3 --seed 2 --batch 256
run b256s3   --T 2 --epochs 60 --lr 7e-3 --seed 3 --batch 256
run b256s4   --T 2 --epochs 60 --lr 7e-3 --seed 4 --batch 256
run b256lr10 --T 2 --epochs 60 --lr 1e-2 --seed 1 --batch 256
run b256e80  --T 2 --epochs 80 --lr 7e-3 --seed 1 --batch 256
run b512e80  --T 2 --epochs 80 --lr 1e-2 --seed 1 --batch 512
run b256t3   --T 3 --epochs 60 --lr 7e-3 --seed 1 --batch 256
else
# final: the recipe chosen on validation (batch 256, 60 epochs, lr 7e-3), on all
# 60,000 training images; seed 1 is the shipped model, seeds 2-4 give the spread
base="--grouping repeat --widths 64 --blocks 2 --qat-epochs 3 --device cuda"
for s in 1 2 3 4; do run full_s$s --T 2 --epochs 60 --lr 7e-3 --seed $s --batch 256; done
fi
wait
out=${OUT:-$PWD/train/runs/sweep}; mkdir -p "$out"
cd /tmp/sw && tar czf "$out/sweep.tgz" *.log *.pt
grep -H "validation\|integer test accuracy\|float test" /tmp/sw/*.log
