#!/usr/bin/env bash
# `npm run test:e2e`: installs what the test needs (Debian packages, test/e2e's npm packages) where
# missing, builds the .vsix, and runs the end-to-end test in code-server + Chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/e2e/setup.sh
npm run --silent package
node_modules/.bin/tsc -p test/e2e
exec node_modules/.bin/mocha --no-config -r tsx/cjs --reporter spec --bail --timeout 120000 test/e2e/vscode.e2e.ts
