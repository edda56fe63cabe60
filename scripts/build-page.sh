#!/usr/bin/env bash
# Vendors the page's npm libraries into www/vendor (generated, not committed):
# one ES module of uPlot and d3-force for the page, uPlot's stylesheet, their
# licences, and the saved report's script (www/report.js with everything it
# imports, one file, to be inlined into a report).
set -euo pipefail
cd "$(dirname "$0")/.."
out=www/vendor
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
esbuild=node_modules/.bin/esbuild
$esbuild src/js/page-libs.mjs --bundle --minify --format=esm --log-level=warning --outfile="$out.tmp/libs.js"
cp node_modules/uplot/dist/uPlot.min.css "$out.tmp/uPlot.min.css"
cp node_modules/uplot/LICENSE "$out.tmp/uplot.LICENSE"
cp node_modules/d3-force/LICENSE "$out.tmp/d3-force.LICENSE"
# The report's script: www/report.js, its imports resolved against the files just vendored.
mkdir -p "$out.tmp/src" && cp www/report.js www/triage.js www/hits.js www/view.js "$out.tmp/src/" && mkdir -p "$out.tmp/src/vendor" && cp "$out.tmp/libs.js" "$out.tmp/src/vendor/"
$esbuild "$out.tmp/src/report.js" --bundle --minify --format=iife --log-level=warning --outfile="$out.tmp/report.js"
rm -rf "$out.tmp/src" "$out"
mv "$out.tmp" "$out"
