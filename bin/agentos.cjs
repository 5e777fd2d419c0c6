#!/usr/bin/env node
// The `agentos` command on PATH (npm install -g ., npm link, npx): runs dist/cli.js under
// a Node that suits it. The system Node when it is new enough (in this process, no extra
// start-up); otherwise the Node 24 that `npm install` put into node_modules (the `node`
// package), as a child; otherwise one line saying which Node is needed and how to get it.
// Plain CommonJS without newer syntax on purpose: it must run on the old Node it replaces.
"use strict";
var childProcess = require("child_process");
var fs = require("fs");
var path = require("path");

var NEEDS = [22, 22]; // package.json "engines": ">=22.22"
var root = path.join(__dirname, "..");
var cli = path.join(root, "dist", "cli.js");
var args = process.argv.slice(2);

function suits(version) {
  var v = version.split(".").map(Number);
  return v[0] > NEEDS[0] || (v[0] === NEEDS[0] && v[1] >= NEEDS[1]);
}

function fail(message) {
  process.stderr.write("agentos: " + message + "\n");
  process.exit(1);
}

function bundledNode() {
  // The `node` package's binary, wherever npm placed it (nested or hoisted).
  var candidates = [path.join(root, "node_modules", "node", "bin", "node"), path.join(root, "node_modules", ".bin", "node")];
  try {
    candidates.unshift(path.join(path.dirname(require.resolve("node/package.json", { paths: [root] })), "bin", "node"));
  } catch (e) {
    // not installed: fall through to the candidates (and then to the message)
  }
  for (var i = 0; i < candidates.length; i++) {
    try {
      if (fs.statSync(candidates[i]).isFile()) return candidates[i];
    } catch (e) {
      // try the next one
    }
  }
  return undefined;
}

// `agentos --version` needs no Node 24 and no modules: answer it here.
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  process.stdout.write(JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version + "\n");
  process.exit(0);
}

if (!fs.existsSync(cli)) fail(cli + " is missing: run `npm install` in " + root + " (it builds dist/)");

if (suits(process.versions.node)) {
  // V8's code cache for the modules a command loads (Node 22.1+): start-up after the first run.
  var mod = require("module");
  if (typeof mod.enableCompileCache === "function") mod.enableCompileCache();
  // import() written through Function: a static `import(` would not even parse on very old Node.
  new Function("u", "return import(u)")(require("url").pathToFileURL(cli).href).catch(function (err) {
    process.stderr.write((err && err.stack) || String(err));
    process.stderr.write("\n");
    process.exit(1);
  });
} else {
  var node = bundledNode();
  if (!node) {
    fail(
      "needs Node.js " + NEEDS.join(".") + " or newer; this is Node " + process.versions.node + " (" + process.execPath + "). " +
        "Run `npm install` in " + root + " (it brings Node 24 for agentos), or install Node 24 (https://nodejs.org, `nvm install 24`).",
    );
  }
  var child = childProcess.spawn(node, [cli].concat(args), { stdio: "inherit" });
  // Ctrl-C in a terminal reaches the child by itself (same process group): forwarding it
  // as well would count as a second Ctrl-C. Signals sent to this process alone are passed on.
  ["SIGTERM", "SIGHUP", "SIGINT"].forEach(function (sig) {
    process.on(sig, function () {
      if (sig === "SIGINT" && process.stdin.isTTY) return;
      child.kill(sig);
    });
  });
  child.on("error", function (err) {
    fail("cannot start " + node + ": " + err.message);
  });
  child.on("exit", function (code, signal) {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code === null ? 1 : code);
  });
}
