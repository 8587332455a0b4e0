#!/usr/bin/env bash
# User-level install of tfgnet-desk on Linux (no root): a launcher in ~/.local/bin, a desktop entry and
# an icon, so that the app starts by double-clicking it in the applications menu.
#
#   packaging/install-linux.sh                 use the built bundle (dist/tfgnet-desk) if present,
#                                              else the tfgnet-desk command of .venv
#   packaging/install-linux.sh --bundle DIR    a bundle folder built by `make package`
#   packaging/install-linux.sh --uninstall     remove what this script installed
#
# Honours XDG_DATA_HOME (default ~/.local/share) and PREFIX_BIN (default ~/.local/bin).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN="${PREFIX_BIN:-$HOME/.local/bin}"
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor"
APPDIR="$DATA/tfgnet-desk/app"
BUNDLE=""

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
  --uninstall)
    rm -f "$BIN/tfgnet-desk" "$APPS/tfgnet-desk.desktop" \
          "$ICONS/scalable/apps/tfgnet-desk.svg" "$ICONS/256x256/apps/tfgnet-desk.png"
    rm -rf "$APPDIR"
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
    echo "tfgnet-desk removed (cases and models in your data folder are kept)"
    exit 0 ;;
  --bundle) BUNDLE="$(cd "${2:?--bundle needs a folder}" && pwd)" ;;
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
esac

if [[ -z "$BUNDLE" && -x "$ROOT/dist/tfgnet-desk/tfgnet-desk" ]]; then
  BUNDLE="$ROOT/dist/tfgnet-desk"
fi

mkdir -p "$BIN" "$APPS" "$ICONS/scalable/apps" "$ICONS/256x256/apps"
if [[ -n "$BUNDLE" ]]; then
  [[ -x "$BUNDLE/tfgnet-desk" ]] || { echo "no tfgnet-desk executable in $BUNDLE" >&2; exit 1; }
  rm -rf "$APPDIR"; mkdir -p "$(dirname "$APPDIR")"
  cp -a "$BUNDLE" "$APPDIR"
  TARGET="$APPDIR/tfgnet-desk"
elif [[ -x "$ROOT/.venv/bin/tfgnet-desk" ]]; then
  TARGET="$ROOT/.venv/bin/tfgnet-desk"
else
  echo "nothing to install: run 'make package' (bundle) or 'make setup' (.venv) first" >&2
  exit 1
fi

# launcher: clears a Qt plugin path that OpenCV may leave behind, then runs the app
cat > "$BIN/tfgnet-desk" <<LAUNCH
#!/bin/sh
unset QT_QPA_PLATFORM_PLUGIN_PATH
exec "$TARGET" "\$@"
LAUNCH
chmod 755 "$BIN/tfgnet-desk"

sed "s|@EXEC@|$BIN/tfgnet-desk|g" "$HERE/linux/tfgnet-desk.desktop" > "$APPS/tfgnet-desk.desktop"
chmod 644 "$APPS/tfgnet-desk.desktop"
cp "$HERE/linux/tfgnet-desk.svg" "$ICONS/scalable/apps/tfgnet-desk.svg"
cp "$HERE/linux/tfgnet-desk.png" "$ICONS/256x256/apps/tfgnet-desk.png"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q "$ICONS" || true

echo "installed: $BIN/tfgnet-desk -> $TARGET"
echo "desktop entry: $APPS/tfgnet-desk.desktop (look for tfgnet-desk in your applications menu)"
# Qt's X11 (xcb) plugin links against system libraries the PySide6 wheel does not bring. Ask the
# dynamic loader what it cannot find and name the Debian/Ubuntu packages; never install them.
# (libfoo.so.N is in package libfooN, or libfoo-N when the name ends in a digit.)
deb_package() {
  local name ver
  name="$(printf '%s' "${1%%.so.*}" | tr '[:upper:]' '[:lower:]')"
  ver="${1##*.so.}"
  case "$name" in libglib-2.0) echo "libglib2.0-0"; return ;; esac
  if [[ "$name" =~ [0-9]$ ]]; then echo "$name-$ver"; else echo "$name$ver"; fi
}
FRESH_DESKTOP="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"
if [[ -n "$BUNDLE" ]]; then SEARCH="$APPDIR"; else SEARCH="$ROOT/.venv/lib"; fi
plugin="$(find "$SEARCH" -path '*/platforms/libqxcb.so' -print -quit 2>/dev/null || true)"
missing=""
if [[ -n "$plugin" ]] && command -v ldd >/dev/null 2>&1; then
  for so in $(ldd "$plugin" 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
    missing="$missing $(deb_package "$so")"
  done
else  # no ldd or no plugin found: look for the libraries a fresh desktop usually lacks
  for lib in xcb-cursor:libxcb-cursor0 xcb-icccm:libxcb-icccm4 xcb-keysyms:libxcb-keysyms1; do
    if ! ldconfig -p 2>/dev/null | grep -q "lib${lib%%:*}\.so"; then missing="$missing ${lib#*:}"; fi
  done
fi
if [[ -n "$missing" ]]; then
  echo "note: the window needs these system libraries first: sudo apt install$missing"
  echo "      (a fresh Debian/Ubuntu desktop usually needs: $FRESH_DESKTOP)"
fi
