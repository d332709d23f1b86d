# credbatch build, tests and local stack. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
TESTENV := infra/testenv/run-tests.sh
export SAM_CLI_TELEMETRY := 0

.PHONY: help test e2e-aws translate setup backends backends-env backends-stop demo serve bench fmt vet lint build sam-build clean

help: ## list the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 22

test: ## install test tools, start the backends, go test + fuzz, sam validate/build, stop
	bash $(TESTENV) test

e2e-aws: ## the deployed shape: moto CloudFormation stack, the real binaries under the Lambda RIE, the issue-11 scenario
	bash $(TESTENV) e2e-aws

translate: ## SAM translator on template.yaml (as CloudFormation runs it) -> bin/template.cfn.json, cfn-lint and checkov (its baseline) on it
	bash $(TESTENV) translate

setup: ## install the test tools only (.venv, .cache)
	bash $(TESTENV) setup

backends: ## start DynamoDB Local and moto server and leave them running
	bash $(TESTENV) backends

backends-env: ## print the exports of the running backends: eval "$$(make -s backends-env)"
	@bash $(TESTENV) env

backends-stop: ## stop the backends started by `make backends`
	bash $(TESTENV) stop

demo: ## run the whole flow locally on the bundled sample
	$(GO) run ./infra/local demo

serve: ## the local stack on 127.0.0.1:8080 (API, pages, drop folder, engine, outbox) with demo-data
	$(GO) run ./infra/local serve

bench: ## print the speed figures against same-run baselines (BENCH_ARGS="-sizes 20000 sheet" for a subset)
	bash $(TESTENV) bench $(BENCH_ARGS)

fmt: ## gofmt the code
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet ./...

lint: ## gofmt -l, go vet, go mod tidy -diff
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

build: ## build every function for Lambda into bin/<name>/bootstrap
	@for d in functions/*/; do n=$$(basename $$d); echo "build $$n"; \
	  $(MAKE) -s build-lambda PKG=./functions/$$n ARTIFACTS_DIR=$(CURDIR)/bin/$$n || exit 1; done

sam-build: ## sam build (uses the build-<LogicalId> targets below)
	.venv/bin/sam build --build-in-source

clean: ## remove build outputs (not the tool caches)
	rm -rf bin .aws-sam

# --- sam build (BuildMethod: makefile, CodeUri: .) ----------------------------------------
# SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set; a function's logical id is its
# directory name in CamelCase + "Function": IngestFunction -> ./functions/ingest.
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
# The deployed shape's e2e test builds the same way for the test machine (LAMBDA_GOARCH=amd64).
LAMBDA_GOARCH ?= arm64

build-%Function:
	$(MAKE) -s build-lambda PKG=./functions/$(shell echo '$*' | tr '[:upper:]' '[:lower:]')

.PHONY: build-lambda
build-lambda:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set"; exit 1; }
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap $(PKG)
