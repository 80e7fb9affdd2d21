// Prints the Khronos glTF validator's JSON report for one .glb/.gltf file on stdout.
// Usage: node validate.js FILE   (after `npm ci` or `npm install` in this folder)
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.js FILE.glb");
  process.exit(2);
}
const bytes = new Uint8Array(fs.readFileSync(file));
validator
  .validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 1000,
    externalResourceFunction: (uri) =>
      Promise.resolve(new Uint8Array(fs.readFileSync(path.join(path.dirname(file), decodeURIComponent(uri))))),
  })
  .then((report) => console.log(JSON.stringify(report)))
  .catch((err) => {
    console.error(String(err));
    process.exit(1);
  });
