#!/usr/bin/env node
// Writes contracts/artifacts/<Name>.json = {abi, bytecode, deployedBytecode} from forge's out/ for the
// contracts the Rust side binds (alloy::sol! reads these files). Usage:
//   node scripts/export-artifacts.mjs [outDir]   (default: artifacts/, relative to contracts/)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = resolve(root, process.argv[2] ?? "artifacts");
const contracts = [
  ["AvsPrecompile.sol", "AvsPrecompile"],
  ["AvsServiceContract.sol", "AvsServiceContract"],
  // the interface every AVS on the base shares (createNewTask(bytes, …), respondToTask(…, bytes, …), the events
  // and errors); abstract, so its bytecode is empty
  ["AvsServiceBase.sol", "AvsServiceBase"],
  ["IAVSManager.sol", "IAVSManager"],
  ["IAVSManagerExt.sol", "IAVSManagerExt"],
  // the registry on a Prague chain without the precompile: AvsPrecompile cut in two within EIP-170
  ["OperatorRegistry.sol", "OperatorRegistry"],
  ["OperatorRegistry.sol", "OperatorRegistryAux"],
  // the strict Imua profile: the front's runtime goes to 0x…0901, ImuaAvsPrecompile's to the front's IMPL
  // (0x0000000000000000000000000000000000Ab0901), both with anvil_setCode (the latter exceeds EIP-170)
  ["ImuaPrecompileFront.sol", "ImuaPrecompileFront"],
  ["ImuaAvsPrecompile.sol", "ImuaAvsPrecompile"],
  // test-only harnesses for the Rust differential tests (tests/differential_*.rs)
  ["QuorumHarness.sol", "QuorumHarness"],
  ["BlsHarness.sol", "BlsHarness"],
  // test-only planted bug for the simulator (sim/tests/planted_bugs.rs)
  ["SlashNonSignersAvs.sol", "SlashNonSignersAvs"],
];

mkdirSync(outDir, { recursive: true });
for (const [file, name] of contracts) {
  const src = join(root, "out", file, `${name}.json`);
  let built;
  try {
    built = JSON.parse(readFileSync(src, "utf8"));
  } catch (e) {
    console.error(`export-artifacts: cannot read ${src} (run 'npx forge build' first): ${e.message}`);
    process.exit(1);
  }
  const artifact = {
    abi: built.abi,
    bytecode: built.bytecode.object,
    deployedBytecode: built.deployedBytecode.object,
  };
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
}
console.log(`export-artifacts: wrote ${contracts.length} artifacts to ${outDir}`);
