#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle: dist/tfgnet-desk/tfgnet-desk (run by `make package`).
# Then: dist/tfgnet-desk/tfgnet-desk --self-test   and   packaging/install-linux.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -c "import PyInstaller" 2>/dev/null || {
  echo "PyInstaller is missing: pip install -e '.[package]'" >&2; exit 1; }
[[ -d models/tiny && -f models/tiny/MANIFEST.json ]] || \
  echo "warning: models/tiny is missing: the bundle will have no embedded model (its --self-test fails)" >&2
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/tfgnet-desk.spec
echo "bundle: dist/tfgnet-desk/tfgnet-desk ($(du -sh dist/tfgnet-desk | cut -f1), built in $(( $(date +%s) - start )) s)"
