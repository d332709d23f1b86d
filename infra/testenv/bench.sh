#!/usr/bin/env bash
# Benchmarks of credbatch (placeholder: one iteration of every benchmark).
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench . -benchtime 1x ./...
