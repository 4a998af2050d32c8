#!/usr/bin/env bash
# `npm run demo`: builds the .vsix, installs code-server (test/e2e's own packages) if needed, and serves
# VS Code on 127.0.0.1 with the extension installed and examples/ open. Ctrl-C stops it.
# VGPU_DEMO_PORT picks the port (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
port=${VGPU_DEMO_PORT:-8080}

npm run --silent package
bash test/e2e/setup.sh --server-only

work=$root/test/e2e/.work/demo
mkdir -p "$work/extensions" "$work/user-data/User"
: > "$work/config.yaml" # our own (empty) config: never ~/.config/code-server/config.yaml
cat > "$work/user-data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "git.openRepositoryInParentFolders": "never"
}
JSON
cs=(test/e2e/node_modules/.bin/code-server --config "$work/config.yaml" --extensions-dir "$work/extensions" --user-data-dir "$work/user-data")
"${cs[@]}" --force --install-extension "$root/vgpu-debug.vsix" >/dev/null

# Its own process group, ended as a whole: code-server's file watchers outlive the main process otherwise.
setsid "${cs[@]}" --auth none --bind-addr "127.0.0.1:$port" --disable-telemetry --disable-update-check \
  --disable-workspace-trust "$root/examples" >"$work/code-server.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://127.0.0.1:$port/healthz" && break
  kill -0 $pid 2>/dev/null || { cat "$work/code-server.log"; echo "code-server did not start (port $port in use? set VGPU_DEMO_PORT)" >&2; exit 1; }
  sleep 0.2
done
cat <<MSG

  vGPU Debug is running in VS Code (code-server) with examples/ open:

      http://127.0.0.1:$port/?folder=$root/examples

  Open picture.vgpu and press F5; then "vGPU: Show Surface" from the command palette.
  Log: $work/code-server.log    Ctrl-C stops the server.

MSG
wait $pid
