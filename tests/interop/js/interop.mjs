// An independent implementation for the interoperability tests (tests/interop/): Digital
// Bazaar's VC libraries verify what the node issues and sign what the node verifies.
//
// Reads one JSON command on stdin, writes one JSON result on stdout:
//   {"op": "verify", "credential": VC, "contexts": {URL: context}}
//       -> {"verified": bool, "error": str|null, "statuses": [...]}
//     did:key keys resolve offline; did:web documents and status lists are fetched over
//     HTTPS from the node under test (loopback only; its CA comes in NODE_EXTRA_CA_CERTS).
//   {"op": "sign", "credential": VC, "seeds": [hex, ...], "suite": "jcs"|"rdfc",
//    "contexts": {...}} -> {"credential": VC with one proof per seed (a proof set)}
//   {"op": "present", "presentation": VP, "seed": hex, "challenge": str, "domain": str,
//    "suite": "jcs"|"rdfc", "contexts": {...}} -> {"presentation": signed VP}
// Any other URL is refused: nothing is fetched from anywhere but 127.0.0.1.

import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as vc from '@digitalbazaar/vc';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {driver as didKeyDriver} from '@digitalbazaar/did-method-key';
import {
  createSignCryptosuite,
  createVerifyCryptosuite
} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {cryptosuite as rdfcCryptosuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import didContext from 'did-context';

const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';
const FETCH_TIMEOUT_MS = 10000;

const didKey = didKeyDriver();
didKey.use({
  multibaseMultikeyHeader: 'z6Mk',
  fromMultibase: Ed25519Multikey.from
});

const staticContexts = new Map([
  ...credentialsContexts,
  ...dataIntegrityContext.contexts,
  ...multikeyContext.contexts,
  ...didContext.contexts
]);

function loopback(url) {
  const {protocol, hostname} = new URL(url);
  return protocol === 'https:' && hostname === '127.0.0.1';
}

async function fetchJson(url) {
  if(!loopback(url)) {
    throw new Error(`refusing to fetch ${url}: only https://127.0.0.1 is allowed`);
  }
  const response = await fetch(url, {signal: AbortSignal.timeout(FETCH_TIMEOUT_MS)});
  if(!response.ok) {
    throw new Error(`GET ${url}: HTTP ${response.status}`);
  }
  return response.json();
}

function didWebUrl(did) {
  // did:web:host%3Aport -> https://host:port/.well-known/did.json
  const host = decodeURIComponent(did.slice('did:web:'.length).split(':')[0]);
  return `https://${host}/.well-known/did.json`;
}

function makeLoader(extraContexts = {}) {
  const contexts = new Map([...staticContexts, ...Object.entries(extraContexts)]);
  return async url => {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
    }
    if(url.startsWith('did:key:')) {
      const document = await didKey.get({url});
      return {contextUrl: null, documentUrl: url, document};
    }
    if(url.startsWith('did:web:')) {
      const [did, fragment] = url.split('#');
      const didDocument = await fetchJson(didWebUrl(did));
      if(didDocument.id !== did) {
        throw new Error(`DID document id ${didDocument.id} is not ${did}`);
      }
      if(!fragment) {
        return {contextUrl: null, documentUrl: url, document: didDocument};
      }
      const method = (didDocument.verificationMethod || []).find(m => m.id === url);
      if(!method) {
        throw new Error(`${url} is not in the DID document`);
      }
      return {
        contextUrl: null,
        documentUrl: url,
        document: {'@context': MULTIKEY_V1, ...method}
      };
    }
    if(url.startsWith('https://')) {
      return {contextUrl: null, documentUrl: url, document: await fetchJson(url)};
    }
    throw new Error(`document loader refuses ${url}`);
  };
}

function verifySuites() {
  return [
    new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()}),
    new DataIntegrityProof({cryptosuite: rdfcCryptosuite})
  ];
}

async function keyFromSeed(hex) {
  const seed = Uint8Array.from(Buffer.from(hex, 'hex'));
  const key = await Ed25519Multikey.generate({seed});
  const did = `did:key:${key.publicKeyMultibase}`;
  key.controller = did;
  key.id = `${did}#${key.publicKeyMultibase}`;
  return key;
}

function signSuite(key, name) {
  const cryptosuite = name === 'rdfc' ? rdfcCryptosuite : createSignCryptosuite();
  return new DataIntegrityProof({signer: key.signer(), cryptosuite});
}

async function verify(command) {
  const documentLoader = makeLoader(command.contexts);
  const statuses = [];
  const result = await vc.verifyCredential({
    credential: command.credential,
    suite: verifySuites(),
    documentLoader,
    checkStatus: async options => {
      const status = await checkStatus({...options, suite: verifySuites()});
      statuses.push({
        verified: status.verified,
        error: status.error ? status.error.message : null,
        results: (status.results || [status]).map(r => ({
          purpose: r.credentialStatus?.statusPurpose,
          status: r.status
        }))
      });
      return status;
    }
  });
  return {
    verified: result.verified,
    error: result.error ? String(result.error.message || result.error) : null,
    statuses
  };
}

async function sign(command) {
  const documentLoader = makeLoader(command.contexts);
  let credential = command.credential;
  for(const seed of command.seeds) {
    const key = await keyFromSeed(seed);
    credential = await vc.issue({
      credential, suite: signSuite(key, command.suite), documentLoader
    });
  }
  return {credential};
}

async function present(command) {
  const documentLoader = makeLoader(command.contexts);
  const key = await keyFromSeed(command.seed);
  const presentation = await vc.signPresentation({
    presentation: command.presentation,
    suite: signSuite(key, command.suite),
    challenge: command.challenge,
    domain: command.domain,
    documentLoader
  });
  return {presentation};
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const command = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const ops = {verify, sign, present};
  if(!ops[command.op]) {
    throw new Error(`unknown op ${command.op}`);
  }
  process.stdout.write(JSON.stringify(await ops[command.op](command)));
}

main().catch(error => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
