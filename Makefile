# The two commands of the README: `make demo` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
export UV_NO_PROGRESS := 1

.PHONY: demo test lint bench install clean package image deploy destroy browser

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled at install time (pip's default, not uv's, and not done for the editable
# chalicelib): with PYTHONDONTWRITEBYTECODE set, every process would otherwise recompile miniwdl
# and chalicelib from source.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e .
	$(BIN)/python -m compileall -q chalicelib
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	$(BIN)/python -m compileall -q chalicelib
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)

## demo: run examples/hello.wdl in the local mode, print its outputs and its report's path
demo: $(RUNTIME_STAMP)
	@out=$$($(BIN)/miniwdl-fargate run examples/hello.wdl) || exit $$?; echo "$$out"; \
	run=$$(printf '%s' "$$out" | $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["run_id"])'); \
	echo "report: $$($(BIN)/miniwdl-fargate report $$run)"

## lint: ruff and mypy
lint: $(DEV_STAMP)
	$(BIN)/ruff check app.py chalicelib tests bench
	$(BIN)/ruff format --check app.py chalicelib tests bench
	$(BIN)/mypy app.py chalicelib

## browser: Debian's chromium, for the run report's browser test (installed when missing)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		command -v apt-get >/dev/null 2>&1 || { echo "make test needs Debian's chromium package"; exit 1; }; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium; }

## test: lint, types and the whole test suite
test: lint browser
	$(BIN)/pytest -q

## bench: performance scenarios, one JSON line each
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis *.egg-info

# ---- Deployment (docs/deploy.md) ------------------------------------------------------------
# `package` needs only PyPI; `image`, `deploy` and `destroy` need AWS credentials (and `image`
# Docker), so CI never runs them. Variables: make deploy STACK=name REGION=eu-west-1 ...
STACK ?= miniwdl-fargate
ifeq ($(origin REGION),undefined)
# Looked up once, when first needed (so `make package` and `make test` never call aws).
REGION = $(eval REGION := $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),$(shell aws configure get region 2>/dev/null)))$(REGION)
endif
# API_AUTH=none packages and deploys an API without IAM authorization (for tests only).
API_AUTH ?= iam
# More stack parameters, e.g. PARAMETERS="CreateVpc=false VpcId=vpc-1 SubnetIds=subnet-a,subnet-b"
PARAMETERS ?=
PACKAGE_DIR ?= build/package
TEMPLATE = $(PACKAGE_DIR)/template.yaml
REPOSITORY ?= miniwdl-fargate
IMAGE_TAG ?= $(shell git describe --always --dirty 2>/dev/null || echo latest)
# The orchestrator image: the one `make image` last pushed, unless given.
IMAGE ?= $(shell cat build/image-uri 2>/dev/null)
# Where `aws cloudformation package` uploads the Lambda code; created if missing.
ARTIFACT_BUCKET ?=
AWS_CLI = aws --region $(REGION)
NEED_REGION = test -n "$(REGION)" || { echo "no AWS region: set REGION=... or run aws configure"; exit 1; }

# The Lambda functions' runtime: python3.12 runs on Amazon Linux 2023 (python3.11's Amazon Linux
# 2 ends 2026-06-30). Chalice packages for the Python it runs under (3.11 here, as the
# orchestrator image), so the recipe names the runtime to chalice and has its pip fetch that
# runtime's wheels (chalice's cross-platform download, given the Python version as well).
LAMBDA_RUNTIME ?= python3.12
define CHALICE_FOR_RUNTIME
import sys
from chalice import config
from chalice.cli import main
from chalice.deploy import packager
runtime = sys.argv.pop(1)
config.Config.lambda_python_version = property(lambda self: runtime)
execute = packager.PipRunner._execute
def execute_for_runtime(self, command, args, *rest, **kwargs):
    if command == "download" and "--abi" in args:
        abi = args[args.index("--abi") + 1]
        args = [*args, "--python-version", abi[2] + "." + abi[3:]]
    return execute(self, command, args, *rest, **kwargs)
packager.PipRunner._execute = execute_for_runtime
sys.exit(main())
endef
export CHALICE_FOR_RUNTIME

## package: the complete CloudFormation template (and the Lambda code) in build/package/
package: $(DEV_STAMP)
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} MINIWDL_FARGATE_API_AUTH=$(API_AUTH) \
		$(BIN)/python -c "$$CHALICE_FOR_RUNTIME" $(LAMBDA_RUNTIME) package \
		--pkg-format cloudformation --merge-template infra/template.yaml $(PACKAGE_DIR)
	mv $(PACKAGE_DIR)/sam.yaml $(TEMPLATE)
	@echo "packaged: $(TEMPLATE) (with deployment.zip and layer-deployment.zip beside it)"

## image: build the orchestrator image (Dockerfile) and push it to ECR; prints its URI
image:
	@$(NEED_REGION)
	@command -v docker >/dev/null || { echo "make image needs Docker"; exit 1; }
	set -eu; \
	account=$$($(AWS_CLI) sts get-caller-identity --query Account --output text); \
	registry=$$account.dkr.ecr.$(REGION).amazonaws.com; \
	uri=$$registry/$(REPOSITORY):$(IMAGE_TAG); \
	$(AWS_CLI) ecr describe-repositories --repository-names $(REPOSITORY) >/dev/null 2>&1 || \
		$(AWS_CLI) ecr create-repository --repository-name $(REPOSITORY) \
			--image-scanning-configuration scanOnPush=true >/dev/null; \
	$(AWS_CLI) ecr get-login-password | docker login --username AWS --password-stdin $$registry; \
	docker build --platform linux/amd64 -t $$uri .; \
	docker push $$uri; \
	mkdir -p build; echo $$uri > build/image-uri; \
	echo "image: $$uri"

## deploy: package, upload and deploy the stack; prints the API URL and the bucket
deploy: package
	@$(NEED_REGION)
	@test -n "$(IMAGE)" || { echo "no orchestrator image: run make image, or set IMAGE=URI"; exit 1; }
	set -eu; \
	bucket=$(ARTIFACT_BUCKET); \
	if [ -z "$$bucket" ]; then \
		account=$$($(AWS_CLI) sts get-caller-identity --query Account --output text); \
		bucket=miniwdl-fargate-artifacts-$$account-$(REGION); \
	fi; \
	$(AWS_CLI) s3api head-bucket --bucket $$bucket 2>/dev/null || $(AWS_CLI) s3 mb s3://$$bucket; \
	$(AWS_CLI) cloudformation package --template-file $(TEMPLATE) --s3-bucket $$bucket \
		--s3-prefix $(STACK) --output-template-file $(PACKAGE_DIR)/packaged.yaml >/dev/null; \
	$(AWS_CLI) cloudformation deploy --template-file $(PACKAGE_DIR)/packaged.yaml \
		--stack-name $(STACK) --s3-bucket $$bucket --s3-prefix $(STACK) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset \
		--parameter-overrides OrchestratorImage=$(IMAGE) ApiAuth=$(API_AUTH) $(PARAMETERS)
	@$(AWS_CLI) cloudformation describe-stacks --stack-name $(STACK) --output text \
		--query "Stacks[0].Outputs[?OutputKey=='ApiUrl' || OutputKey=='Bucket'].[OutputKey,OutputValue]"

## destroy: stop the stack's tasks and wait until they have stopped, empty its bucket, delete it
# A stopping orchestrator still uploads its logs to the bucket, and a cluster with tasks still
# stopping cannot be deleted: so the bucket is emptied only once every task has stopped. Rounds,
# because a stopping orchestrator may have launched a task after the listing.
destroy:
	@$(NEED_REGION)
	set -eu; \
	output() { $(AWS_CLI) cloudformation describe-stacks --stack-name $(STACK) --output text \
		--query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue"; }; \
	tasks() { $(AWS_CLI) ecs list-tasks --cluster $$cluster --desired-status $$1 \
		--query taskArns --output text | tr -s '\t ' '\n\n' | grep -v '^None$$' || true; }; \
	bucket=$$(output Bucket); cluster=$$(output Cluster); \
	if [ -n "$$cluster" ] && [ "$$cluster" != None ]; then \
		round=0; \
		while :; do \
			round=$$((round + 1)); \
			running=$$(tasks RUNNING); \
			for task in $$running; do \
				$(AWS_CLI) ecs stop-task --cluster $$cluster --task $$task \
					--reason "make destroy" >/dev/null; \
			done; \
			{ echo "$$running"; tasks STOPPED; } | grep . | sort -u | xargs -r -n 100 \
				$(AWS_CLI) ecs wait tasks-stopped --cluster $$cluster --tasks; \
			if [ -z "$$running" ]; then break; fi; \
			if [ $$round -ge 10 ]; then echo "tasks keep starting in $$cluster"; exit 1; fi; \
		done; \
	fi; \
	if [ -n "$$bucket" ] && [ "$$bucket" != None ]; then \
		$(AWS_CLI) s3 rm s3://$$bucket --recursive --quiet; \
	fi; \
	$(AWS_CLI) cloudformation delete-stack --stack-name $(STACK); \
	$(AWS_CLI) cloudformation wait stack-delete-complete --stack-name $(STACK); \
	echo "deleted stack $(STACK)"

# A deployed stack checked end to end through its API (docs/deploy.md, "Smoke test"): a scatter
# passing Files, a failing task, a cancel, a GPU task with Ec2Capacity; records, notifications,
# outputs in S3, no task left running. One line per check. Needs the stack's AWS credentials.
.PHONY: smoke
smoke: $(RUNTIME_STAMP)
	@$(NEED_REGION)
	$(BIN)/python -m chalicelib.smoke --stack $(STACK) --region $(REGION)
