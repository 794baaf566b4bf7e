// Validates Kubernetes manifests (one or more YAML files, multi-document; "-" or none = stdin) against the API's
// JSON schemas as shipped by kubernetes-models: types, required fields, enums and formats of every object.
// Prints "ok <Kind>/<name>" or "error <Kind>/<name>: <path> <message>" per document; exit code 1 on any error.
// Usage: node deploy/validate/validate.mjs FILE... (install first: bash deploy/validate/install.sh)
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const files = process.argv.length > 2 ? process.argv.slice(2) : ["-"];
let failed = false;

for (const file of files) {
  const text = readFileSync(file === "-" ? 0 : file, "utf8");
  for (const doc of parseAllDocuments(text)) {
    const object = doc.toJS();
    if (object === null || object === undefined) {
      continue;
    }
    const label = `${object?.kind ?? "?"}/${object?.metadata?.name ?? "?"}`;
    const problems = doc.errors.map((e) => `yaml: ${e.message}`);
    if (problems.length === 0) {
      problems.push(...(await validate(object)));
    }
    for (const problem of problems) {
      console.log(`error ${label}: ${problem}`);
    }
    if (problems.length === 0) {
      console.log(`ok ${label}`);
    }
    failed ||= problems.length > 0;
  }
}
process.exit(failed ? 1 : 0);

async function validate(object) {
  if (typeof object !== "object" || Array.isArray(object) || !object.apiVersion || !object.kind) {
    return ["not a Kubernetes object (apiVersion and kind are required)"];
  }
  const model = await modelOf(object.apiVersion, object.kind);
  if (!model) {
    return [`no schema for ${object.apiVersion} ${object.kind}`];
  }
  try {
    new model(object).validate();
    return [];
  } catch (e) {
    return (e.errors ?? [{ instancePath: "", message: e.message }]).map(
      (err) => `${err.instancePath || "/"} ${err.message ?? err.keyword}${err.params ? " " + JSON.stringify(err.params) : ""}`,
    );
  }
}

// kubernetes-models has one module per group/version: "apps/v1" → kubernetes-models/apps/v1, "v1" → kubernetes-models/v1.
async function modelOf(apiVersion, kind) {
  if (!/^[a-z0-9.\-]+(\/[a-z0-9]+)?$/.test(apiVersion)) {
    return undefined;
  }
  try {
    const module = await import(`kubernetes-models/${apiVersion}`);
    return typeof module[kind] === "function" && module[kind].kind === kind ? module[kind] : undefined;
  } catch {
    return undefined;
  }
}
