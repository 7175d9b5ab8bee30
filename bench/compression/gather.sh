#!/usr/bin/env bash
# Step 1 of build-corpus.sh: run real commands on this machine and keep their raw output in $SRC.
# Needs network for the registry/pip/npm steps. Each file's header comment in README.md names it.
set -u
SRC=${SRC:-/var/tmp/headroom-corpus-src}
SERDE_GIT=${SERDE_GIT:-/work/.mirror/serde-rs+json/repo}   # `fetch github:serde-rs/json`
REG=$(ls -d ~/.cargo/registry/src/index.crates.io-*/ | head -1)
mkdir -p "$SRC"; cd "$SRC"
g() { git --git-dir "$SERDE_GIT" "$@"; }
# git (serde-rs/json mirror)
g log -n 1 --format=%H > serde-head.txt
g log --stat -n 45 > git-log-stat.txt
g log -n 120 --format=fuller > git-log-fuller.txt
g diff v1.0.120 v1.0.122 -- src/ > git-diff.txt
g show v1.0.122:src/read.rs > read-rs.txt
# grep over real crate sources
(cd "$REG" && grep -rn "unsafe" tokio-1.54.1/src/runtime/ | head -500) > grep-tokio-unsafe.txt
(cd "$REG" && grep -rn "pub fn " serde_json-1.0.154/src/ regex-1.13.2/src/) > grep-pub-fn.txt
(cd "$REG" && grep -rn "impl.*for" hyper-1.12.0/src/ | head -160) > grep-hyper-impl.txt
# listings
ls -lR /usr/lib/python3.11/email /usr/lib/python3.11/json /usr/lib/python3.11/urllib > ls-lR-python.txt 2>&1
find /usr/lib/python3.11/asyncio /usr/lib/python3.11/concurrent -type f | sort > find-python.txt
# registry metadata
curl -s https://registry.npmjs.org/left-pad > npm-left-pad.json
curl -s https://registry.npmjs.org/semver > npm-semver.json   # crates.io API and PyPI JSON API do not answer from here
jq '.versions |= with_entries(select(.key | test("^[5-9]\\.")))' npm-semver.json > npm-semver-v5plus.json
curl -s https://registry.npmjs.org/express/4.19.2 > npm-express-4.19.2.json
# pip -v into a throwaway venv
rm -rf /tmp/hr-pipvenv; python3 -m venv /tmp/hr-pipvenv
/tmp/hr-pipvenv/bin/pip install -v --no-cache-dir 'rich==13.7.1' > pip-install-v.txt 2>&1
/tmp/hr-pipvenv/bin/pip --version > pip-version.txt
/tmp/hr-pipvenv/bin/pip install -v --no-cache-dir --no-binary=:all: 'markupsafe==2.1.5' > pip-install-v-sdist.txt 2>&1
rm -rf /tmp/hr-pipvenv
# npm with colours
rm -rf /tmp/hr-npmproj; mkdir -p /tmp/hr-npmproj; (cd /tmp/hr-npmproj && npm init -y >/dev/null \
  && npm install --color=always --loglevel=http --no-fund --no-audit --cache /tmp/hr-npmcache 'express@4.19.2' > "$SRC/npm-install-color.txt" 2>&1 \
  && ls -lR node_modules/express node_modules/body-parser > "$SRC/ls-lR-node_modules.txt")
npm --version > npm-version.txt
rm -rf /tmp/hr-npmproj /tmp/hr-npmcache
# real test failures: CPython 3.11.7's own Lib/test files run under CPython 3.13.0 (pyenv)
PY311=/root/.pyenv/versions/3.11.7/lib/python3.11/test PY313=/root/.pyenv/versions/3.13.0/bin/python3
rm -rf /tmp/hr-ut; mkdir -p /tmp/hr-ut; cp "$PY311/test_ast.py" /tmp/hr-ut/test_ast_311.py; cp "$PY311/test_enum.py" /tmp/hr-ut/test_enum_311.py
(cd /tmp/hr-ut && "$PY313" -m unittest -v test_ast_311 > "$SRC/unittest-test_ast.txt" 2>&1)
rm -rf /tmp/hr-pyt; "$PY313" -m venv /tmp/hr-pyt; /tmp/hr-pyt/bin/pip install -q 'pytest==8.3.3' > /dev/null 2>&1
(cd /tmp/hr-ut && /tmp/hr-pyt/bin/python -m pytest -p no:cacheprovider test_enum_311.py > "$SRC/pytest-test_enum.txt" 2>&1)
rm -rf /tmp/hr-pyt /tmp/hr-ut
# cargo build of a real crate (fancy-regex 0.13.0 from the registry cache, own target dir; fetches its deps)
rm -rf /tmp/hr-cb; mkdir -p /tmp/hr-cb; cp -r "$REG/fancy-regex-0.13.0" /tmp/hr-cb/
(cd /tmp/hr-cb/fancy-regex-0.13.0 && cargo build -j1 --target-dir /tmp/hr-cb/target > "$SRC/cargo-build-fancy-regex.txt" 2>&1)
rm -rf /tmp/hr-cb
# JSON arrays of uniform objects: the installed packages of the reference's venv (reference.sh makes it)
REFVENV=${HEADROOM_REF_VENV:-/var/tmp/headroom-ref/venv}
"$REFVENV/bin/pip" list --format=json > pip-list-json.json
"$REFVENV/bin/pip" inspect 2>/dev/null | jq '[.installed[] | {name: .metadata.name, version: .metadata.version, summary: .metadata.summary, requires_python: .metadata.requires_python, requires_dist: .metadata.requires_dist, installer, requested}]' > pip-inspect-jq.json
