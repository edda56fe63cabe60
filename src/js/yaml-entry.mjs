// The one function of npm's `yaml` the wasm package uses (bundled by
// scripts/build-wasm.sh into pkg/*/yaml.js): user rules' YAML to documents.
export { parse } from 'yaml';
