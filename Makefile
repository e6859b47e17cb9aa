# The two commands of the README: `make demo` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
export UV_NO_PROGRESS := 1

.PHONY: demo test lint bench install clean package image deploy destroy

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

## demo: run examples/hello.wdl in the local mode and print its outputs
demo: $(RUNTIME_STAMP)
	$(BIN)/miniwdl-fargate run examples/hello.wdl

## lint: ruff and mypy
lint: $(DEV_STAMP)
	$(BIN)/ruff check app.py chalicelib tests bench
	$(BIN)/ruff format --check app.py chalicelib tests bench
	$(BIN)/mypy app.py chalicelib

## test: lint, types and the whole test suite
test: lint
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

## package: the complete CloudFormation template (and the Lambda code) in build/package/
package: $(DEV_STAMP)
	rm -rf $(PACKAGE_DIR)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} MINIWDL_FARGATE_API_AUTH=$(API_AUTH) \
		$(BIN)/chalice package --pkg-format cloudformation --merge-template infra/template.yaml \
		$(PACKAGE_DIR)
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

## destroy: stop the stack's running tasks, empty its bucket and delete it
destroy:
	@$(NEED_REGION)
	set -eu; \
	output() { $(AWS_CLI) cloudformation describe-stacks --stack-name $(STACK) --output text \
		--query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue"; }; \
	bucket=$$(output Bucket); cluster=$$(output Cluster); \
	if [ -n "$$cluster" ] && [ "$$cluster" != None ]; then \
		for task in $$($(AWS_CLI) ecs list-tasks --cluster $$cluster --query taskArns --output text); do \
			$(AWS_CLI) ecs stop-task --cluster $$cluster --task $$task --reason "make destroy" >/dev/null; \
		done; \
	fi; \
	if [ -n "$$bucket" ] && [ "$$bucket" != None ]; then \
		$(AWS_CLI) s3 rm s3://$$bucket --recursive --quiet; \
	fi; \
	$(AWS_CLI) cloudformation delete-stack --stack-name $(STACK); \
	$(AWS_CLI) cloudformation wait stack-delete-complete --stack-name $(STACK); \
	echo "deleted stack $(STACK)"
