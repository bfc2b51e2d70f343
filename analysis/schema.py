"""Column names shared by the loaders, the tables, the bundle, curves, claims, grid and plots.

One module because eight others read it: a column renamed here is renamed everywhere. Metric columns
of the trials table keep their ``core.keys`` names (built with its functions); the names here are the
extra columns analysis itself adds. Word lists (outcomes, methods, roles, ...) live in ``core.vocab``.
"""
from __future__ import annotations

RUN = "run_id"
RUN_NAME = "run_name"
SPEC_HASH = "spec_hash"
OUTCOME = "outcome"
VERSION = "version"
SWEEP = "sweep"

# Spec columns (core.spec.TrialSpec.flat() names) that analysis groups and plots by.
ETA_B = "eta_over_b"
BATCH = "batch_size"
SEED = "seed"
WIDTH = "model.width"
DEPTH = "model.depth"
ARCH = "model.arch"
DATASET = "data.dataset"
PARAMETRIZATION = "model.parametrization"       # missing in runs made before it existed: 'standard'
NOISE, NOISE_SCALE, NOISE_ALPHA = "train.noise", "train.noise_scale", "train.noise_alpha"
NOISE_LR_RESCALE, NOISE_EXCLUDE, NOISE_CONV = "train.noise_lr_rescale", "train.noise_exclude", "train.noise_conv"
NOISE_COLUMNS = (NOISE, NOISE_SCALE, NOISE_ALPHA, NOISE_LR_RESCALE, NOISE_EXCLUDE, NOISE_CONV)

# Trial-quality columns of the trials table (tags read by analysis.tables; usability by analysis.usable).
FIT, MEASURE_VERSION = "fit", "measure_version"
USABLE, WHY_EXCLUDED = "usable", "why_excluded"

GRID_AXES = (ETA_B, BATCH, WIDTH, SEED)         # axes whose product is the grid inside a group

# Long-table columns.
WSET, LAYER, ROLE, LAYER_NAME, SHAPE, N_ENTRIES = "wset", "layer", "role", "layer_name", "shape", "n_entries"
VARIANT, ALPHA, ALPHA_RAW = "variant", "alpha", "alpha_raw"
METHOD, CENTER, EPS, RATIO = "method", "center", "eps", "ratio"
PRUNABLE, ERROR = "prunable", "error"
PRUNED_ACC, PRUNED_LOSS, REMAINING, SV_REMOVED = "pruned_acc", "pruned_loss", "remaining", "sv_removed"
KEY, STEP, VALUE, SERIES = "key", "step", "value", "series"
