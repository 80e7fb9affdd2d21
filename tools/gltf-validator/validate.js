// Runs the Khronos glTF validator on each file given and prints one JSON report per line.
// Usage: node validate.js FILE.glb [FILE2.glb ...]   (after `npm ci` in this folder)
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function main(files) {
  for (const file of files) {
    const bytes = new Uint8Array(fs.readFileSync(file));
    const report = await validator.validateBytes(bytes, {
      uri: path.basename(file),
      maxIssues: 1000,
      externalResourceFunction: (uri) =>
        Promise.resolve(new Uint8Array(
          fs.readFileSync(path.join(path.dirname(file), decodeURIComponent(uri))))),
    });
    report.file = file;
    console.log(JSON.stringify(report));
  }
}

if (process.argv.length < 3) {
  console.error("usage: node validate.js FILE.glb [...]");
  process.exit(2);
}
main(process.argv.slice(2)).catch((err) => {
  console.error(String(err));
  process.exit(1);
});
