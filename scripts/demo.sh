#!/usr/bin/env bash
# `make demo`: (1) closed-form collapse predictions on the bundled MNIST digits, printed, plotted
# and summarised in OUT/predict/REPORT.md; (2) a representative quick subset of the paper's
# results (Fig. 3a with theory, Fig. 2b's (ε,δ) curves, a theorem verification) reproduced and
# reported in OUT/REPORT.md and OUT/report.html. Usage: scripts/demo.sh [OUT] (default out/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-out/demo}
OUT=$ROOT/predict
VC=.venv/bin/vaecollapse
mkdir -p "$OUT"

# The paper's Fig. 3a setting: linear CVAE on the quarter split, one digit at a time,
# latent 16, η_enc = η_dec = 0.5, β = 1.
for digit in 1 9 7; do
  echo "== CVAE, digit $digit =="
  $VC predict --model cvae --data "mnist:digit=$digit,split=quarter" --latent-dim 16 \
    --eta-enc 0.5 --eta-dec 0.5 --beta 1 \
    --json "$OUT/cvae-digit$digit.json" --plot "$OUT/cvae-digit$digit.png"
done

echo "== CVAE phase diagram over β (digits 1, 9, 7 together) =="
$VC predict --model cvae --data "mnist:digits=1,9,7,split=quarter" --latent-dim 16 \
  --eta-enc 0.5 --eta-dec 0.5 --sweep beta=0.05:10:60:log \
  --json "$OUT/cvae-beta-sweep.json" --plot "$OUT/cvae-beta-sweep.png"

echo "== Learnable vs fixed encoder variance (linear VAE, all digits) =="
$VC predict --model vae --data mnist --latent-dim 16 --beta 1 --eta-dec 1 \
  --json "$OUT/vae-learnable.json" --plot "$OUT/vae-learnable.png"
$VC predict --model vae --data mnist --latent-dim 16 --beta 1 --eta-dec 1 --sigma 0.5 \
  --json "$OUT/vae-fixed.json" --plot "$OUT/vae-fixed.png"

echo "== Hierarchical VAE: phase diagram over β2 (Theorem 3) =="
$VC predict --model mhvae --data mnist --latent-dim 10 --sigma1 0.5 --eta-enc 0.5 \
  --eta-dec 0.5 --sweep beta2=0.1:7:50 \
  --json "$OUT/mhvae-beta2-sweep.json" --plot "$OUT/mhvae-beta2-sweep.png"

.venv/bin/python scripts/demo_report.py "$OUT"

echo "== Reproducing a quick subset of the paper (Fig. 3a, Fig. 2b, Theorem 2) =="
$VC reproduce fig3a fig2b verify-thm2 --profile quick --out "$ROOT"
