#!/usr/bin/env bash
# Regenerate every figure in plots/ (the README's figures) from scratch:
#
#     bash plots/regenerate.sh          # about 40 min on 2 cores (the attack matrix: 30)
#
# Results go to a fresh temporary directory (removed at the end), so nothing is resumed from an
# earlier run's store; only plots/ changes. Run it after any change that moves a number, then
# open the PNGs and update the README's numbers before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for scenario in ce_paper_fig2 ce_margin ce_deadline_drift ce_partial_synchrony \
    cgc_sync cgc_async cgc_no_redundancy; do
    netsim run "scenarios/$scenario.toml" --out "$work/$scenario" --plots plots --quiet
done
python scenarios/attack_matrix.py --out "$work/attack_matrix" --plots plots
python scenarios/latency_effects.py --plots plots
python scenarios/asynchrony_stress.py --plots plots
python scenarios/heterogeneous_links.py --plots plots
netsim sweep scenarios/sweep_latency.toml --store "$work/sweep_latency.db" --plots plots --quiet
for search in search_ce_paper search_cgc_async search_desync; do
    netsim search "scenarios/$search.toml" --out "$work/$search" --plots plots --quiet
done
echo "regenerated: $(ls plots/*.png | wc -l) figures in plots/"
