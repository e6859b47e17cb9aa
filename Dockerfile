# The orchestrator image: miniwdl and this package at pinned versions, run by the stack's
# orchestrator task definition as `python -m chalicelib.orchestrator RUN_ID` (the submit Lambda
# sets the command). `make image` builds it for linux/amd64 and pushes it to ECR.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MINIWDL_CFG=/etc/miniwdl-fargate/miniwdl.cfg

# Every package at an exact version (the file is the whole dependency closure, hence --no-deps).
COPY infra/orchestrator-requirements.txt /tmp/requirements.txt
RUN pip install --no-deps -r /tmp/requirements.txt && rm /tmp/requirements.txt

# This package (chalicelib: the orchestrator and the aws_fargate miniwdl backend).
WORKDIR /opt/miniwdl-fargate
COPY pyproject.toml README.md ./
COPY chalicelib ./chalicelib
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && rm -rf build ./*.egg-info

COPY infra/miniwdl.cfg /etc/miniwdl-fargate/miniwdl.cfg

# Not root. (On EFS every file operation runs as the access point's POSIX user, 1000:1000.)
RUN useradd --uid 1000 --user-group --create-home miniwdl
USER 1000:1000
WORKDIR /home/miniwdl

CMD ["python", "-m", "chalicelib.orchestrator"]
