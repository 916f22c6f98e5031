# Sourced by script tests: the small, fast storm run the Swift tests also
# train (Tests/TestSupport/StormTestRun.swift): hidden 8, 12 x 12 tiles,
# halo 1, window 4, global batch 12 in micro-batches of 2.
#
#   storm_test_config RUN_DIR STEPS > run.toml   # then append [train] lines and later tables
storm_test_config() {
    cat <<EOF_TOML
seed = 5
run_dir = "$1"
[model]
hidden = 8
layers = 2
embed_dim = 4
attn_stride = 2
objective = "forecast"
[data]
files = ["/usr/share/ncarg/data/cdf/Ustorm.cdf", "/usr/share/ncarg/data/cdf/Vstorm.cdf", "/usr/share/ncarg/data/cdf/Tstorm.cdf", "/usr/share/ncarg/data/cdf/Pstorm.cdf"]
variables = ["u", "v", "t", "p"]
time_units = "hours since 1996-01-05 00:00"
validation_range = [56, 63]
tile_height = 12
tile_width = 12
halo = 1
window = 4
[optimizer]
lr = 0.003
[train]
steps = $2
global_batch = 12
micro_batch = 2
EOF_TOML
}
