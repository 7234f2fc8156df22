"""Whole networks: a graph of layers checked in one call (shapes, parameters, MACs, receptive
fields, expectations). Standard library only; every conv/pool size comes from ``shapes``.

A spec is parsed (``load_network``: TOML or the inline form), planned once (``plan_network``:
every layer's parameters typed and checked, every ``from`` resolved to an earlier layer) and then
run on an input shape (``run_plan``), as often as a size sweep needs.

Definitions used throughout (README, "convcalc net"):

- parameters: what ``sum(p.numel() for p in module.parameters())`` counts in PyTorch (weights and
  biases; BatchNorm's weight and bias, not its running statistics);
- MACs: multiply-accumulates with a learned weight, for the whole batch: a conv does
  ``C_in/groups * prod(k)`` per output element, a transposed conv ``C_out/groups * prod(k)`` per
  input element, a linear layer ``in_features`` per output element; pools, activations,
  normalisation, bias additions, merges (add, mul, cat) and upsampling count 0. FLOPs are
  2 x MACs (one multiply and one add each);
- useful MACs (convs): the MACs whose product is a real input element times a weight landing in
  the output. A conv's other MACs multiply padding zeros; a transposed conv's other MACs land in
  the padding it crops (computed, then thrown away). ``zero_macs``: the MACs a direct
  sliding-window form spends on zeros: a conv's padding, or the inserted and padding zeros of a
  transposed conv's zero-insertion form;
- receptive field: per spatial dimension, how many input pixels one output element can see
  (``size``), the distance in input pixels between neighbouring output elements (``jump``, a
  fraction after a transposed conv or upsampling), and the input coordinate of the centre of
  output element 0 (``start``). A merge (add, mul, cat) sees the union of its inputs' windows: with
  equal jumps the output's field is their hull (exact for ResNet and U-Net skips); an input
  broadcast along a dimension (an SE gate) whose field covers the whole network input makes the
  output see the whole input; any other merge (unequal jumps) has no single field (shown blank).
"""

from __future__ import annotations

from convcalc.loader import load_network as load_network
from convcalc.neteval import rf_text as rf_text
from convcalc.netplan import plan_network as plan_network
from convcalc.netrun import check_shapes as check_shapes
from convcalc.netrun import run_network as run_network
from convcalc.netrun import run_plan as run_plan
from convcalc.netspec import NetworkSpec as NetworkSpec
from convcalc.netspec import parse_inline as parse_inline
from convcalc.netspec import parse_toml as parse_toml

# The Python API of networks, in one place (README "Python API"): load, plan, run.
