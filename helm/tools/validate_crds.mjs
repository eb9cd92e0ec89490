// Validate rendered custom resources (KEDA ScaledObject/TriggerAuthentication, Prometheus
// Operator ServiceMonitor/PrometheusRule) against the JSON schemas shipped in the npm
// packages @kubernetes-models/keda and @kubernetes-models/prometheus-operator.
//
//   node validate_crds.mjs NODE_MODULES_DIR OBJECTS.json
//
// OBJECTS.json: [{"source": "...", "object": {...}}, ...]. Exits 1 on any error.
//
// The packages' validators accept unknown fields (as CRD schemas do, the API server
// prunes them), which would let a misspelt field pass silently. So, like
// `kubectl --validate=strict`, every field the schema does not know is an error: the
// object is handed to the validator through a Proxy that records which fields the
// validator looked at; a field it never looked at is not in the schema.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, objectsFile] = process.argv.slice(2);
if (!modules || !objectsFile) {
  console.error("usage: node validate_crds.mjs NODE_MODULES_DIR OBJECTS.json");
  process.exit(2);
}

const SCHEMAS = {
  "keda.sh/v1alpha1/ScaledObject":
    "@kubernetes-models/keda/_schemas/ComGithubKedacoreKedaV2ApisKedaV1alpha1ScaledObject.js",
  "keda.sh/v1alpha1/TriggerAuthentication":
    "@kubernetes-models/keda/_schemas/ComGithubKedacoreKedaV2ApisKedaV1alpha1TriggerAuthentication.js",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PrometheusRule.js",
};

function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return v;
      seen.add(`${path}/${key}`);
      return track(v, `${path}/${key}`, seen);
    },
    has(target, key) {
      if (typeof key === "string") seen.add(`${path}/${key}`);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      // The validator enumerates this object (a map, or additionalProperties): all known.
      for (const key of Reflect.ownKeys(target)) seen.add(`${path}/${String(key)}`);
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(value, path, seen, out) {
  if (value === null || typeof value !== "object") return;
  for (const key of Object.keys(value)) {
    const p = `${path}/${key}`;
    if (!seen.has(p)) out.push(p);
    else unknownFields(value[key], p, seen, out);
  }
}

const items = JSON.parse(readFileSync(objectsFile, "utf8"));
let failures = 0;
const counts = {};
for (const { source, object } of items) {
  const id = `${object.apiVersion}/${object.kind}`;
  const name = `${object.kind}/${object.metadata?.name} (${source})`;
  const rel = SCHEMAS[id];
  if (!rel) {
    console.error(`ERROR ${name}: no schema for ${id}`);
    failures++;
    continue;
  }
  const { validate } = await import(pathToFileURL(join(modules, rel)).href);
  const seen = new Set();
  const ok = validate(track(object, "", seen));
  const problems = [];
  if (!ok) {
    for (const e of validate.errors ?? []) {
      problems.push(`${e.instancePath || "/"} ${e.keyword}: ${JSON.stringify(e.params)}`);
    }
  } else {
    const unknown = [];
    unknownFields(object, "", seen, unknown);
    for (const p of unknown) problems.push(`${p}: unknown field (not in the ${object.kind} schema)`);
  }
  if (problems.length) {
    failures++;
    console.error(`ERROR ${name}:\n  ${problems.join("\n  ")}`);
  } else {
    counts[object.kind] = (counts[object.kind] ?? 0) + 1;
  }
}
const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ") || "nothing";
console.log(`CRD schema check: ${summary} valid; ${failures} invalid`);
process.exit(failures ? 1 : 0);
