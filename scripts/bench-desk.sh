#!/usr/bin/env bash
# Access-control desk numbers in the release profile: CSV export of 100,000 signed records
# (target < 5 s) and an append after a 32 MiB last line (target < 1 s). Each test generates its
# own log in a temp folder and prints its timing. Needs no models.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo test --release --lib record::export::tests::export_100k_records_under_5s -- --ignored --nocapture 2>&1 |
    grep -E "generated|export of|test result"
cargo test --release --lib record::log::tests::append_after_32_mib_last_line_is_fast -- --nocapture 2>&1 |
    grep -E "append after|test result"
