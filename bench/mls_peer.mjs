// Peer measurement for bench/mls.py: the same MLS operations with ts-mls under Node.
// Run by bench/mls.py from the folder it installed ts-mls into; prints one JSON
// object per figure, the same shape bench/mls.py prints, with "impl": "ts-mls".
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
  processMessage,
  acceptAll,
} from "ts-mls";

const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const sizes = JSON.parse(process.argv[2] ?? "[2,10,100,1000]");
const rounds = Number(process.argv[3] ?? "9");
const messages = Number(process.argv[4] ?? "300");

const impl = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
const text = new TextEncoder();

async function keyPackage(name) {
  const credential = { credentialType: "basic", identity: text.encode(name) };
  return generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], impl);
}

function emit(metric, value, unit, extra = {}) {
  const figure = { bench: "mls", metric, value: Math.round(value * 1000) / 1000, unit, impl: "ts-mls", ...extra };
  console.log(JSON.stringify(figure));
}

// The best round, as bench/mls.py takes: the machine is shared.
function best(values) {
  return Math.min(...values);
}

// Build a group of `size`: alice commits one Add of everyone else, bob joins by Welcome.
async function buildGroup(size) {
  const alice = await keyPackage("alice");
  let aliceState = await createGroup(text.encode(`bench-${size}`), alice.publicPackage, alice.privatePackage, [], impl);
  const bob = await keyPackage("bob");
  const adds = [{ proposalType: "add", add: { keyPackage: bob.publicPackage } }];
  for (let i = 2; i < size; i++) {
    const member = await keyPackage(`member-${i}`);
    adds.push({ proposalType: "add", add: { keyPackage: member.publicPackage } });
  }
  const result = await createCommit({ state: aliceState, cipherSuite: impl }, { extraProposals: adds });
  aliceState = result.newState;
  const bobState = await joinGroup(result.welcome, bob.publicPackage, bob.privatePackage, emptyPskIndex, impl, aliceState.ratchetTree);
  return { aliceState, bobState };
}

// ts-mls adds a path only when a proposal needs one, as bench/mls.py asks for Adds;
// the ratchet tree goes in an Add's Welcome, as Sottovoce puts it there (ts-mls
// builds a GroupInfo on every commit, so only Adds ask for the tree in it).
async function timedCommit(states, proposals, ratchetTreeExtension = false) {
  const start = performance.now();
  const result = await createCommit(
    { state: states.aliceState, cipherSuite: impl },
    { extraProposals: proposals, ratchetTreeExtension },
  );
  const createMs = performance.now() - start;
  states.aliceState = result.newState;
  const processStart = performance.now();
  const processed = await processMessage(result.commit, states.bobState, emptyPskIndex, acceptAll, impl);
  const processMs = performance.now() - processStart;
  states.bobState = processed.newState;
  return { createMs, processMs };
}

for (const size of sizes) {
  const states = await buildGroup(size);
  const figures = { update_commit_ms: [], add_commit_ms: [], remove_commit_ms: [] };
  const processed = { update: [], add: [], remove: [] };
  for (let round = 0; round < rounds; round++) {
    const update = await timedCommit(states, []);
    figures.update_commit_ms.push(update.createMs);
    processed.update.push(update.processMs);
    const joiner = await keyPackage(`joiner-${round}`);
    const add = await timedCommit(states, [{ proposalType: "add", add: { keyPackage: joiner.publicPackage } }], true);
    figures.add_commit_ms.push(add.createMs);
    processed.add.push(add.processMs);
    // Remove the member just added: its leaf is the highest occupied one.
    const removed = await timedCommit(states, [{ proposalType: "remove", remove: { removed: lastLeaf(states.aliceState) } }]);
    figures.remove_commit_ms.push(removed.createMs);
    processed.remove.push(removed.processMs);
  }
  for (const [metric, values] of Object.entries(figures)) emit(metric, best(values), "ms", { group_size: size, tree: "fresh" });
  for (const [operation, values] of Object.entries(processed)) {
    emit("process_commit_ms", best(values), "ms", { group_size: size, tree: "fresh", operation });
  }
}

function lastLeaf(state) {
  const tree = state.ratchetTree;
  for (let node = tree.length - 1; node >= 0; node -= 2) {
    if (node % 2 === 0 && tree[node] !== undefined) return node / 2;
  }
  throw new Error("empty tree");
}

// Application messages: alice protects, bob unprotects, in a group of two; the best
// of three runs of at least a second (at most `messages` each), as bench/mls.py.
{
  const states = await buildGroup(2);
  const payload = new Uint8Array(100);
  let bestRate = 0;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    let done = 0;
    while (performance.now() - start < 1000 && done < messages) {
      const sent = await createApplicationMessage(states.aliceState, payload, impl);
      states.aliceState = sent.newState;
      const received = await processPrivateMessage(states.bobState, sent.privateMessage, emptyPskIndex, impl);
      states.bobState = received.newState;
      done++;
    }
    bestRate = Math.max(bestRate, done / ((performance.now() - start) / 1000));
  }
  emit("protect_unprotect_msgs_per_s", bestRate, "msg/s");
}
