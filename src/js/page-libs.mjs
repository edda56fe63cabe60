// The npm libraries the page uses, bundled by scripts/build-page.sh into
// www/vendor/libs.js (no CDN, nothing fetched at run time): uPlot for the
// timeline, d3-force for the lateral-movement graph's layout.
export { default as uPlot } from 'uplot';
export { forceSimulation, forceLink, forceManyBody, forceCenter, forceCollide } from 'd3-force';
