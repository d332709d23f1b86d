#!/usr/bin/env bash
# Test environment of credbatch: installs the test tools, starts the local AWS backends and
# runs the whole test suite. Called by the Makefile:
#
#   run-tests.sh setup      install only (Python venv, DynamoDB Local, npm packages)
#   run-tests.sh backends   start DynamoDB Local and moto server, print the exports, leave them running
#   run-tests.sh stop       stop backends started by "backends"
#   run-tests.sh e2e-aws    setup, start backends, the deployed-shape scenario only (infra/deployed), stop
#   run-tests.sh translate  SAM translator, cfn-lint and checkov (against its baseline) on the
#                           transformed template (bin/template.cfn.json)
#   run-tests.sh test       setup, start backends, translator, go test + fuzz, sam validate/build, stop
#
# Everything is installed under the checkout: ./.venv and ./.venv-checkov (PyPI), ./.cache/m2 and
# ./.cache/dynamodb-local (Maven Central), infra/testenv/jsverify/node_modules (npm). Missing
# system tools (java, mvn, python3 venv, node) are installed from Debian when running as root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TESTENV="$ROOT/infra/testenv"
CACHE="$ROOT/.cache"
VENV="$ROOT/.venv"
CHECKOV_VENV="$ROOT/.venv-checkov"
DDB_DIR="$CACHE/dynamodb-local"
STATE="$CACHE/backends"
PIP_VERSION=26.0.1
export SAM_CLI_TELEMETRY=0

section() { printf '\n==== %s [%ds] ====\n' "$*" "$SECONDS"; }
die() { printf 'run-tests: %s\n' "$*" >&2; exit 1; }

# hash_of prints one hash of the given files' contents (the install stamps).
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# need CMD DEBIAN-PACKAGE...: make CMD available, installing the packages when root.
APT_UPDATED=""
apt_install() {
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
	echo "installing $* from Debian"
	if [ -z "$APT_UPDATED" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
need() {
	local cmd="$1"
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	apt_install "$@" && command -v "$cmd" >/dev/null 2>&1 && return 0
	die "$cmd is missing; install $* and retry"
}

python_bin() {
	local p
	for p in python3.11 python3; do
		if command -v "$p" >/dev/null 2>&1; then
			command -v "$p"
			return 0
		fi
	done
	return 1
}

setup_python() {
	section "setup: Python tools (aws-sam-cli, cfn-lint, moto) in .venv"
	local want have=""
	want="$(hash_of "$TESTENV/requirements.txt" "$TESTENV/constraints.txt" <(echo "$PIP_VERSION"))"
	[ -f "$VENV/.credbatch-stamp" ] && have="$(cat "$VENV/.credbatch-stamp")"
	if [ "$want" = "$have" ] && [ -x "$VENV/bin/sam" ] && [ -x "$VENV/bin/moto_server" ]; then
		echo "up to date ($("$VENV/bin/sam" --version))"
		return 0
	fi
	need python3 python3 python3-venv
	local py
	py="$(python_bin)"
	rm -rf "$VENV"
	if ! "$py" -m venv "$VENV"; then
		rm -rf "$VENV"
		apt_install python3-venv || die "$py cannot create a virtualenv; install python3-venv and retry"
		"$py" -m venv "$VENV"
	fi
	# The pip that venv bundles (23.x) can crash resolving this set; use a current one.
	"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
		--cache-dir "$CACHE/pip" "pip==$PIP_VERSION"
	"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
		--cache-dir "$CACHE/pip" \
		-r "$TESTENV/requirements.txt" -c "$TESTENV/constraints.txt"
	echo "$want" >"$VENV/.credbatch-stamp"
	echo "installed $("$VENV/bin/sam" --version), $("$VENV/bin/cfn-lint" --version)"
}

# checkov has a venv of its own: its dependency tree conflicts with aws-sam-cli's and moto's.
setup_checkov() {
	section "setup: checkov in .venv-checkov"
	local want have=""
	want="$(hash_of "$TESTENV/requirements-checkov.txt" "$TESTENV/constraints-checkov.txt" <(echo "$PIP_VERSION"))"
	[ -f "$CHECKOV_VENV/.credbatch-stamp" ] && have="$(cat "$CHECKOV_VENV/.credbatch-stamp")"
	if [ "$want" = "$have" ] && [ -x "$CHECKOV_VENV/bin/checkov" ]; then
		echo "up to date (checkov $("$CHECKOV_VENV/bin/checkov" --version))"
		return 0
	fi
	need python3 python3 python3-venv
	local py
	py="$(python_bin)"
	rm -rf "$CHECKOV_VENV"
	"$py" -m venv "$CHECKOV_VENV" || die "$py cannot create a virtualenv; install python3-venv and retry"
	"$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
		--cache-dir "$CACHE/pip" "pip==$PIP_VERSION"
	"$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
		--cache-dir "$CACHE/pip" \
		-r "$TESTENV/requirements-checkov.txt" -c "$TESTENV/constraints-checkov.txt"
	echo "$want" >"$CHECKOV_VENV/.credbatch-stamp"
	echo "installed checkov $("$CHECKOV_VENV/bin/checkov" --version)"
}

setup_dynamodb() {
	section "setup: DynamoDB Local (Maven Central)"
	local want have=""
	want="$(hash_of "$TESTENV/dynamodb-local/pom.xml")"
	[ -f "$DDB_DIR/.credbatch-stamp" ] && have="$(cat "$DDB_DIR/.credbatch-stamp")"
	if [ "$want" = "$have" ] && ls "$DDB_DIR"/lib/DynamoDBLocal-*.jar >/dev/null 2>&1; then
		echo "up to date ($(basename "$DDB_DIR"/lib/DynamoDBLocal-*.jar))"
		return 0
	fi
	need java openjdk-17-jre-headless
	need mvn maven
	rm -rf "$DDB_DIR"
	mkdir -p "$DDB_DIR/native"
	if ! mvn -q -B -Dstyle.color=never -f "$TESTENV/dynamodb-local/pom.xml" \
		-Dmaven.repo.local="$CACHE/m2" \
		dependency:copy-dependencies -DoutputDirectory="$DDB_DIR/lib" >"$CACHE/mvn.log" 2>&1; then
		cat "$CACHE/mvn.log" >&2
		die "mvn could not resolve DynamoDB Local"
	fi
	# sqlite4java loads its JNI library from java.library.path.
	cp "$DDB_DIR"/lib/*.so "$DDB_DIR/native/" 2>/dev/null || true
	cp "$DDB_DIR"/lib/*.dylib "$DDB_DIR/native/" 2>/dev/null || true
	ls "$DDB_DIR"/native/libsqlite4java-linux-* >/dev/null 2>&1 || die "no sqlite4java native library was resolved"
	echo "$want" >"$DDB_DIR/.credbatch-stamp"
	echo "installed $(basename "$DDB_DIR"/lib/DynamoDBLocal-*.jar) with $(ls "$DDB_DIR/native" | tr '\n' ' ')"
}

setup_node() {
	setup_npm "$TESTENV/jsverify"
	setup_npm "$TESTENV/aslcompare" # aws-local-stepfunctions for shared/flowtest's TestSecondInterpreter
	setup_npm "$TESTENV/axe"        # axe-core, injected by the console's browser tests
}

# setup_npm DIR: npm ci in DIR from its lockfile (skipped while the lockfile is unchanged).
setup_npm() {
	local dir="$1"
	[ -f "$dir/package.json" ] || return 0
	section "setup: npm ci in ${dir#"$ROOT"/}"
	need node nodejs
	need npm npm
	local want have=""
	want="$(hash_of "$dir/package.json" "$dir/package-lock.json")"
	[ -f "$dir/node_modules/.credbatch-stamp" ] && have="$(cat "$dir/node_modules/.credbatch-stamp")"
	if [ "$want" = "$have" ]; then
		echo "up to date"
		return 0
	fi
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --cache "$CACHE/npm")
	echo "$want" >"$dir/node_modules/.credbatch-stamp"
}

# The Lambda Runtime Interface Emulator runs the function binaries of the deployed-shape test
# (infra/deployed). The module has no release tags on the Go proxy; this pins a commit.
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
setup_rie() {
	section "setup: Lambda Runtime Interface Emulator ($RIE_VERSION, go install)"
	local stamp="$CACHE/bin/.aws-lambda-rie-stamp"
	if [ -x "$CACHE/bin/aws-lambda-rie" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$RIE_VERSION" ]; then
		echo "up to date"
		return 0
	fi
	mkdir -p "$CACHE/bin"
	GOBIN="$CACHE/bin" go install "$RIE_MODULE@$RIE_VERSION"
	echo "$RIE_VERSION" >"$stamp"
	echo "installed $CACHE/bin/aws-lambda-rie"
}

setup() {
	mkdir -p "$CACHE"
	command -v go >/dev/null 2>&1 || die "go is missing (Go $(sed -n 's/^go //p' "$ROOT/go.mod") or newer is needed)"
	setup_python
	setup_checkov
	setup_dynamodb
	setup_node
	setup_rie
	if grep -rqs --include='*_test.go' 'github.com/chromedp/chromedp' "$ROOT/functions" "$ROOT/infra" "$ROOT/shared"; then
		section "setup: Chromium for the browser tests"
		bash "$TESTENV/browser.sh"
	fi
	section "setup: poppler-utils (pdftotext reads the credential PDFs back)"
	need pdftotext poppler-utils
	section "setup: LibreOffice (the evidence tests' PDFs are exported by it)"
	need soffice libreoffice-writer-nogui
	section "setup: Go modules"
	(cd "$ROOT" && go mod download)
}

free_port() {
	"$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready NAME LOG CHECK...: run CHECK until it succeeds (60 s at most).
wait_ready() {
	local name="$1" log="$2"
	shift 2
	local i
	for i in $(seq 1 120); do
		if "$@" >/dev/null 2>&1; then
			echo "$name is ready"
			return 0
		fi
		sleep 0.5
	done
	echo "---- $log ----" >&2
	tail -n 50 "$log" >&2 || true
	die "$name did not become ready"
}

# probe_dynamodb creates and deletes a table: it proves the server answers and that the
# sqlite4java native library loaded.
probe_dynamodb() {
	"$VENV/bin/python" - "$1" <<'EOF'
import sys, boto3
c = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
c.create_table(TableName="readiness-probe", BillingMode="PAY_PER_REQUEST",
               AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
               KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
c.put_item(TableName="readiness-probe", Item={"PK": {"S": "x"}})
c.delete_table(TableName="readiness-probe")
EOF
}

probe_moto() {
	"$VENV/bin/python" - "$1" <<'EOF'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
             aws_access_key_id="test", aws_secret_access_key="test").list_buckets()
EOF
}

start_backends() {
	section "backends: starting DynamoDB Local and moto server on 127.0.0.1"
	stop_backends quiet
	mkdir -p "$STATE"
	local ddb_port moto_port
	ddb_port="$(free_port)"
	moto_port="$(free_port)"
	while [ "$moto_port" = "$ddb_port" ]; do moto_port="$(free_port)"; done

	# DynamoDB Local has no bind-address option; it listens on all interfaces of this port.
	(cd "$STATE" && exec java -Xmx1g -Djava.library.path="$DDB_DIR/native" -cp "$DDB_DIR/lib/*" \
		software.amazon.dynamodb.services.local.main.ServerRunner \
		-inMemory -disableTelemetry -port "$ddb_port") >"$STATE/dynamodb.log" 2>&1 &
	echo $! >"$STATE/dynamodb.pid"
	"$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$STATE/moto.log" 2>&1 &
	echo $! >"$STATE/moto.pid"

	local moto="http://127.0.0.1:$moto_port"
	cat >"$STATE/env" <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_S3=$moto
export AWS_ENDPOINT_URL_SESV2=$moto
export AWS_ENDPOINT_URL_SFN=$moto
export AWS_ENDPOINT_URL_SNS=$moto
export AWS_ENDPOINT_URL_SECRETS_MANAGER=$moto
export AWS_ENDPOINT_URL_SSM=$moto
export AWS_ENDPOINT_URL_SCHEDULER=$moto
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
EOF
	wait_ready "DynamoDB Local (port $ddb_port, pid $(cat "$STATE/dynamodb.pid"))" "$STATE/dynamodb.log" \
		probe_dynamodb "http://127.0.0.1:$ddb_port"
	wait_ready "moto server (port $moto_port, pid $(cat "$STATE/moto.pid"))" "$STATE/moto.log" probe_moto "$moto"
}

# stop_backends [quiet]: stop the processes whose pids start_backends recorded.
stop_backends() {
	local name pid i
	for name in dynamodb moto; do
		[ -f "$STATE/$name.pid" ] || continue
		pid="$(cat "$STATE/$name.pid")"
		if kill "$pid" 2>/dev/null; then
			for i in $(seq 1 20); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.25
			done
			kill -9 "$pid" 2>/dev/null || true
			[ "${1:-}" = quiet ] || echo "stopped $name (pid $pid)"
		fi
		rm -f "$STATE/$name.pid"
	done
	rm -f "$STATE/env"
}

go_tests() {
	section "go test ./..."
	# infra/deployed builds seven binaries and runs the e2e scenario: more than go test's
	# default 10 minutes on a slow machine.
	# It runs after the other packages, not beside them: its stack puts Lambda functions into the
	# shared moto server, and moto's /moto-api/data.json (which shared/ses reads to see what was
	# sent) then fails with a 500 because it cannot describe a Lambda function without Docker.
	(cd "$ROOT" && go test -count=1 -timeout 60m $(go list ./... | grep -v '/infra/deployed$')) || return 1
	(cd "$ROOT" && go test -count=1 -timeout 60m ./infra/deployed)
}

# e2e_aws runs only the deployed-shape scenario (make e2e-aws); its summary is the last line.
e2e_aws() {
	setup
	trap 'section "backends: stopping"; stop_backends' EXIT
	start_backends
	# shellcheck disable=SC1091
	. "$STATE/env"
	section "deployed shape: go test -run TestDeployedShape ./infra/deployed"
	local summary="$CACHE/e2e-aws-summary.txt" rc=0
	rm -f "$summary"
	(cd "$ROOT" && CREDBATCH_E2E_SUMMARY="$summary" go test -count=1 -timeout 60m -v -run '^TestDeployedShape$' ./infra/deployed) || rc=$?
	# The summary is the last line: stop the backends first.
	section "backends: stopping"
	stop_backends
	trap - EXIT
	section "e2e-aws finished"
	[ -f "$summary" ] && cat "$summary" || echo "e2e-aws: no summary (the scenario did not reach its end), outcome FAIL"
	return "$rc"
}

# Each fuzz target runs for 10 seconds. Minimizing a new interesting input may take up to
# -fuzzminimizetime (60 s by default) during which the run reports no executions; a zip
# input takes long to minimize, so FuzzXLSX spent its whole slot minimizing one input.
FUZZ_TARGETS=("FuzzCSV ./shared/sheet" "FuzzXLSX ./shared/sheet")
fuzz_tests() {
	local t name pkg dir
	for t in "${FUZZ_TARGETS[@]}"; do
		read -r name pkg <<<"$t"
		dir="$ROOT/${pkg#./}"
		if grep -qs "func $name(" "$dir"/*_test.go; then
			section "fuzz $name ($pkg, 10s)"
			(cd "$ROOT" && go test -run '^$' -fuzz "^$name\$" -fuzztime 10s -fuzzminimizetime 1s "$pkg")
		else
			section "fuzz $name: not defined in $pkg yet, skipped"
		fi
	done
}

# translate_checks runs the SAM translator as CloudFormation does: `sam validate` without
# --lint on a copy of the template without samconfig.toml (whose `lint = true` would skip the
# translator), then the translator itself into bin/template.cfn.json and cfn-lint on that
# transformed template. A translator error fails.
translate_checks() {
	section "sam validate (SAM translator, no samconfig.toml)"
	local dir
	dir="$(mktemp -d)"
	cp "$ROOT/template.yaml" "$dir/template.yaml"
	(cd "$dir" && "$VENV/bin/sam" validate --region us-east-1 --template-file template.yaml) || {
		rm -rf "$dir"
		return 1
	}
	rm -rf "$dir"
	section "SAM translator -> bin/template.cfn.json, cfn-lint on the transformed template"
	mkdir -p "$ROOT/bin"
	"$VENV/bin/python" "$TESTENV/transform.py" "$ROOT/template.yaml" "$ROOT/bin/template.cfn.json" || return 1
	"$VENV/bin/cfn-lint" "$ROOT/bin/template.cfn.json" || return 1
	echo "transformed template: $(grep -c '"Type": "AWS::' "$ROOT/bin/template.cfn.json") resources, cfn-lint clean"
	checkov_checks
}

# checkov_checks runs checkov on the transformed template: every finding must be in
# infra/testenv/checkov-baseline.txt with its reason, and every line there must still fire.
checkov_checks() {
	section "checkov on the transformed template, against infra/testenv/checkov-baseline.txt"
	"$VENV/bin/python" "$TESTENV/checkov_baseline.py" "$CHECKOV_VENV/bin/checkov" \
		"$ROOT/bin/template.cfn.json" "$TESTENV/checkov-baseline.txt"
}

sam_checks() {
	section "sam validate --lint"
	(cd "$ROOT" && "$VENV/bin/sam" validate --lint --region us-east-1 --template-file template.yaml)
	section "sam build"
	(cd "$ROOT" && PATH="$VENV/bin:$PATH" "$VENV/bin/sam" build --build-in-source --template-file template.yaml)
}

run_tests() {
	setup
	trap 'section "backends: stopping"; stop_backends' EXIT
	start_backends
	# shellcheck disable=SC1091
	. "$STATE/env"
	section "environment"
	sed 's/^export //' "$STATE/env"
	local failed=()
	translate_checks || failed+=("translator")
	go_tests || failed+=("go test")
	fuzz_tests || failed+=("fuzz")
	sam_checks || failed+=("sam")
	if [ "${#failed[@]}" -gt 0 ]; then
		section "FAILED: ${failed[*]}"
		return 1
	fi
	section "all checks passed"
}

# run_bench prints the speed figures (infra/bench) with DynamoDB Local running, so the store
# benchmarks include it; extra arguments go to the bench program.
run_bench() {
	setup
	trap 'section "backends: stopping"; stop_backends' EXIT
	start_backends
	# shellcheck disable=SC1091
	. "$STATE/env"
	section "benchmarks (go run ./infra/bench $*)"
	go run ./infra/bench "$@"
}

case "${1:-test}" in
setup) setup ;;
bench)
	shift
	run_bench "$@"
	;;
backends)
	setup
	start_backends
	section "backends are running; for a dev shell: eval \"\$(make -s backends-env)\"; stop with: make backends-stop"
	cat "$STATE/env"
	;;
env) [ -f "$STATE/env" ] && cat "$STATE/env" || die "no backends running (make backends)" ;;
stop) stop_backends ;;
e2e-aws) e2e_aws ;;
translate)
	setup_python
	setup_checkov
	translate_checks
	;;
test) run_tests ;;
*) die "usage: $0 setup|backends|env|stop|test|translate|e2e-aws|bench [bench args]" ;;
esac
