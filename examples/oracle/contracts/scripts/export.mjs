#!/usr/bin/env node
// Writes examples/oracle/contracts/artifacts/OracleService.json = {abi, bytecode, deployedBytecode} from
// forge's out/, the same shape as contracts/scripts/export-artifacts.mjs writes (alloy::sol! reads it).
// Usage (after a forge build, see foundry.toml):  node scripts/export.mjs [outDir]   (default: artifacts/)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = resolve(root, process.argv[2] ?? "artifacts");
const contracts = [["OracleService.sol", "OracleService"]];

mkdirSync(outDir, { recursive: true });
for (const [file, name] of contracts) {
  const src = join(root, "out", file, `${name}.json`);
  let built;
  try {
    built = JSON.parse(readFileSync(src, "utf8"));
  } catch (e) {
    console.error(`export: cannot read ${src} (run forge build first, see foundry.toml): ${e.message}`);
    process.exit(1);
  }
  const artifact = {
    abi: built.abi,
    bytecode: built.bytecode.object,
    deployedBytecode: built.deployedBytecode.object,
  };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
}
console.log(`export: wrote ${contracts.length} artifact(s) to ${outDir}`);
