// Validates every monitoring.coreos.com object of the given multi-document YAML files against
// the prometheus-operator CRD schemas, as compiled into @kubernetes-models/prometheus-operator
// (types, enums, patterns such as durations, required fields).
//
//   node scripts/node/k8s-crds/validate_crds.mjs NODE_MODULES FILE...
//
// NODE_MODULES is the folder the npm packages were installed into (scripts/check_k8s.sh
// installs them pinned under .venv-tools/k8s-node/); the models are loaded from there by path.
// Prints one line per invalid object, or a summary; exits 1 on any invalid object.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, ...files] = process.argv.slice(2);
if (!nodeModules || files.length === 0) {
  console.error("usage: node validate_crds.mjs NODE_MODULES FILE...");
  process.exit(2);
}
const load = (spec) => import(pathToFileURL(join(nodeModules, spec)).href);
const yaml = (await load("js-yaml/dist/js-yaml.mjs"));

let checked = 0;
const errors = [];
for (const file of files) {
  for (const doc of yaml.loadAll(readFileSync(file, "utf8"))) {
    if (!doc || !String(doc.apiVersion || "").startsWith("monitoring.coreos.com/")) continue;
    const version = doc.apiVersion.split("/")[1];
    const what = `${doc.kind}/${doc.metadata?.name}`;
    let Model;
    try {
      const mod = await load(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${doc.kind}.js`);
      Model = mod[doc.kind];
    } catch (e) {
      errors.push(`${what}: no model for ${doc.apiVersion} ${doc.kind}: ${e.message}`);
      continue;
    }
    try {
      new Model(doc).validate();
      checked++;
    } catch (e) {
      errors.push(`${what}: ${e.message}`);
    }
  }
}
if (errors.length) {
  console.log(errors.join("\n"));
  process.exit(1);
}
console.log(`${checked} operator objects valid against the prometheus-operator CRD schemas`);
