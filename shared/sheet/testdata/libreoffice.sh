#!/bin/sh
# Regenerates the lo_* fixtures with LibreOffice headless (apt-get install libreoffice-calc-nogui).
# Run from shared/sheet/testdata after `go run ./shared/sheet/internal/fixturegen`.
set -eu
out=$(mktemp -d)
export HOME="$out"
soffice --headless --infilter="CSV:44,34,76,1" --convert-to xlsx lo_source.csv --outdir "$out"
cp "$out/lo_source.xlsx" lo_dates.xlsx
soffice --headless --convert-to ods lo_dates.xlsx --outdir "$out"
soffice --headless --convert-to xls lo_dates.xlsx --outdir "$out"
soffice --headless --convert-to "csv:Text - txt - csv (StarCalc):59,34,76,1" lo_dates.xlsx --outdir "$out/csv"
cp "$out/lo_dates.ods" "$out/lo_dates.xls" .
cp "$out/csv/lo_dates.csv" lo_export.csv
# excelize writes formulas without cached values; LibreOffice computes and stores them.
soffice --headless --convert-to "xlsx:Calc MS Excel 2007 XML" formulas.xlsx --outdir "$out/f"
cp "$out/f/formulas.xlsx" lo_formulas.xlsx
rm -rf "$out"
