#!/bin/sh
# The whole test suite on a fresh machine: installs what the tests need (Dovecot, a Japanese
# font, PostgreSQL server binaries, the Python packages), then runs pytest.
# Usage: sh scripts/test.sh [pytest args...]
set -eu
cd "$(dirname "$0")/.."

need_apt=""
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need_apt="$need_apt dovecot-imapd"
[ -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || need_apt="$need_apt fonts-ipaexfont-gothic"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt="$need_apt postgresql"
# The digest test renders its HTML in headless Chromium to a PNG; the console's browser test
# (tests/test_web_browser.py) drives the same Chromium with Playwright's Python package.
command -v chromium >/dev/null 2>&1 || need_apt="$need_apt chromium"
# The pdfs fixture draws ☑ ☒ ✔ ☐ marks with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt="$need_apt fonts-dejavu-core"
# The scan generator (tests/fixtures/scans) writes the handwritten values in these fonts.
[ -f /usr/share/fonts/truetype/seto/setofont.ttf ] || need_apt="$need_apt fonts-seto"
[ -f /usr/share/fonts/truetype/klee/KleeOne-Regular.ttf ] || need_apt="$need_apt fonts-klee"
if [ -n "$need_apt" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing:$need_apt" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt >&2
fi

# The suite runs in a virtual environment of its own (.venv-test, or $BOT_TEST_VENV), built
# from constraints.txt (scripts/lock.sh) and pyproject.toml alone: what happens to be installed
# on the machine can neither make a test pass nor break one. It is built again when its inputs
# change (pyproject.toml, constraints.txt, the Python, this folder) and reused otherwise.
PY=${PYTHON:-python3}
VENV=${BOT_TEST_VENV:-.venv-test}
inputs=$( { cat pyproject.toml constraints.txt; $PY -VV; pwd; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.inputs" 2>/dev/null)" != "$inputs" ]; then
  echo "building the test environment $VENV (constraints.txt)" >&2
  rm -rf "$VENV"
  $PY -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt pip >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]' >&2
  echo "$inputs" > "$VENV/.inputs"
fi
PY="$VENV/bin/python"

# pytest exit 5 means "no tests ran": for us that is a failure, never a pass.
set +e
$PY -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
