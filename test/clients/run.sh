#!/usr/bin/env bash
# Real editors' DAP clients against dist/adapter.js (`npm run test:clients`, after a build):
# - Emacs dap-mode (Debian: emacs-nox elpa-dap-mode), over stdio and as a server: test/clients/emacs-dap.el;
#   skipped, saying so, when emacs or dap-mode is not installed.
# - nvim-dap, only when NVIM_DAP names a checkout of it (not packaged by Debian; see README):
#   test/clients/nvim-dap.lua.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
elpa=${VGPU_ELPA:-/usr/share/emacs/site-lisp/elpa}
status=0
ran=0

if [ ! -f dist/adapter.js ]; then
  echo 'test:clients: dist/adapter.js is missing: run npm run build first' >&2
  exit 1
fi

if ! command -v emacs >/dev/null; then
  echo 'test:clients: SKIPPED Emacs dap-mode: emacs is not installed (apt-get install emacs-nox elpa-dap-mode)'
elif ! compgen -G "$elpa/dap-mode-*" >/dev/null; then
  echo "test:clients: SKIPPED Emacs dap-mode: dap-mode is not in $elpa (apt-get install elpa-dap-mode, or set VGPU_ELPA)"
else
  echo "test:clients: Emacs $(emacs --version | head -1 | sed 's/GNU Emacs //'), $(basename "$(compgen -G "$elpa/dap-mode-*" | head -1)")"
  VGPU_ROOT=$root VGPU_ELPA=$elpa timeout 120 emacs --batch -Q -l test/clients/emacs-dap.el 2>&1 || status=1
  ran=1
fi

if [ -n "${NVIM_DAP:-}" ]; then
  if ! command -v nvim >/dev/null; then
    echo 'test:clients: NVIM_DAP is set but nvim is not installed' >&2
    status=1
  else
    echo "test:clients: $(nvim --version | head -1), nvim-dap at $NVIM_DAP"
    VGPU_ROOT=$root NVIM_DAP=$NVIM_DAP timeout 120 nvim --headless -u NONE -c 'luafile test/clients/nvim-dap.lua' 2>&1 || status=1
    ran=1
  fi
else
  echo 'test:clients: SKIPPED nvim-dap: set NVIM_DAP to a checkout of nvim-dap to run it (README: Tested client configurations)'
fi

[ "$ran" = 0 ] && echo 'test:clients: no client ran'
exit $status
