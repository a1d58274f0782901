// An independent verifier in a second language (JavaScript, Node >= 18, standard library only):
// signed tree heads (Ed25519 over RFC 8785), inclusion and consistency proofs (RFC 9162
// sections 2.1.3.2 and 2.1.4.2) and offline license files (Ed25519: `signature_rfc8785` over
// RFC 8785 when the file has it, else `signature` over the contract's json.dumps form, keys
// sorted by code point). Written from the texts, sharing nothing with the ledger's Python.
// Prints "ok" (for a license file, "ok " and the signature checked) and exits 0, or prints the
// reason and exits 1.
//
//   node verify.mjs tree-head HEAD.json PUBLIC_KEY
//   node verify.mjs proof PROOF.json PUBLIC_KEY HEAD.json [HEAD.json]
//   node verify.mjs license-file FILE.json PUBLIC_KEY
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const fail = (reason, why) => { console.log(`${reason}: ${why}`); process.exit(1); };
const sha256 = (...parts) => createHash("sha256").update(Buffer.concat(parts)).digest();
const node = (l, r) => sha256(Buffer.from([1]), l, r);
const hex = (s) => Buffer.from(s, "hex");
const read = (path) => JSON.parse(readFileSync(path, "utf8"));

function publicKey(base64) {
  const raw = Buffer.from(base64, "base64");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

// RFC 8785: object keys sorted by UTF-16 code units, ES6 number and string serialization.
function jcs(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(",")}}`;
}

// Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False): keys by code point.
const byCodePoint = (a, b) => {
  const x = Array.from(a, (c) => c.codePointAt(0)), y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
};
function pythonCanonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonCanonical).join(",")}]`;
  return `{${Object.keys(value).sort(byCodePoint)
    .map((k) => `${JSON.stringify(k)}:${pythonCanonical(value[k])}`).join(",")}}`;
}

function signed(document, field, key, canonical, signature = "signature") {
  const ok = verify(null, Buffer.from(canonical(document[field]), "utf8"), publicKey(key),
                    Buffer.from(document[signature], "base64"));
  if (!ok) fail("bad_signature", `the ${field} ${signature} does not hold`);
  return document[field];
}

function inclusionRoot(index, size, leaf, path) {  // RFC 9162 2.1.3.2
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if ((fn & 1) || fn === sn) {
      r = node(p, r);
      while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; }
    } else r = node(r, p);
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 ? r : null;
}

function consistent(first, second, oldRoot, newRoot, path) {  // RFC 9162 2.1.4.2
  if (first === second) return path.length === 0 && oldRoot.equals(newRoot);
  if (path.length === 0) return false;
  if ((first & (first - 1)) === 0) path = [oldRoot, ...path];
  let fn = first - 1, sn = second - 1;
  while (fn & 1) { fn >>= 1; sn >>= 1; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if ((fn & 1) || fn === sn) {
      fr = node(c, fr); sr = node(c, sr);
      while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; }
    } else sr = node(sr, c);
    fn >>= 1; sn >>= 1;
  }
  return fr.equals(oldRoot) && sr.equals(newRoot) && sn === 0;
}

const [command, file, key, ...heads] = process.argv.slice(2);
if (command === "tree-head") {
  signed(read(file), "tree_head", key, jcs);
} else if (command === "license-file") {
  // Prefer the RFC 8785 signature (JavaScript's own sort and JSON.stringify); a present one must
  // hold. Files without it fall back to the json.dumps form.
  const document = read(file);
  const way = typeof document.signature_rfc8785 === "string" ? "signature_rfc8785" : "signature";
  const body = signed(document, "license", key, way === "signature" ? pythonCanonical : jcs, way);
  if (body.tree_head) {
    const head = signed(body.tree_head, "tree_head", key, jcs);
    if (head.tree_size !== body.head.sequence) fail("bad_proof", "tree_size is not head.sequence");
  }
  console.log(`ok ${way}`);
  process.exit(0);
} else if (command === "proof") {
  const proof = read(file);
  const trusted = heads.map((h) => signed(read(h), "tree_head", key, jcs));
  const head = (size) => trusted.find((h) => h.tenant === proof.tenant && h.tree_size === size)
    ?? fail("bad_proof", `no head of size ${size} given`);
  if (proof.audit_path) {
    const leaf = hex(proof.leaf_hash);
    if (!leaf.equals(sha256(Buffer.from([0]), hex(proof.event_hash)))) fail("bad_proof", "leaf_hash");
    const root = inclusionRoot(proof.leaf_index, proof.tree_size, leaf, proof.audit_path.map(hex));
    if (!root || !root.equals(hex(head(proof.tree_size).root_hash))) fail("root_mismatch", "inclusion");
  } else {
    const ok = consistent(proof.first, proof.second, hex(head(proof.first).root_hash),
                          hex(head(proof.second).root_hash), proof.consistency_path.map(hex));
    if (!ok) fail("root_mismatch", "consistency");
  }
} else fail("usage", "tree-head | proof | license-file");
console.log("ok");
