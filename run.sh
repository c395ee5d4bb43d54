#!/usr/bin/env bash
# The two quick-start commands: `bash run.sh demo` and `bash run.sh test`.
# Each sets up .venv (once) and then does its job; CI calls `bash run.sh test` too.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {
  if [ ! -x .venv/bin/python ]; then
    "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "nls needs Python 3.11+"'
    "$PY" -m venv .venv
  fi
  local stamp=.venv/.nls-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    touch "$stamp"
  fi
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  demo)
    setup
    exec .venv/bin/nls demo "$@"
    ;;
  test)
    setup
    set +e
    .venv/bin/python -m pytest "$@"
    rc=$?
    set -e
    # pytest exits 5 when it collected no tests: that is a failure, not a pass.
    if [ "$rc" -eq 5 ]; then echo "run.sh: no tests were collected" >&2; exit 1; fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash run.sh demo|test [args...]" >&2
    exit 2
    ;;
esac
