# GPU image of Miaobi: the web app with the model on the GPU; `hub serving start -m miaobi --use_gpu` works too.
#
#   docker build -t miaobi .
#   docker run --gpus all -p 8000:8000 -e MIAOBI_CORS_ORIGINS=https://school.example miaobi
#   docker run --gpus all -p 8866:8866 miaobi .venv/bin/hub serving start -m miaobi -p 8866 --use_gpu
#
# It installs the project exactly as the README does (`make setup`), then swaps the CPU paddle
# wheel for paddlepaddle-gpu of the same version. Since Paddle 3.0 the GPU wheels bring their own
# CUDA runtime and cuDNN as pip packages (nvidia-*-cu12, matched to the wheel's cu126 build; see
# PaddlePaddle/docs#7684), so the CUDA user space always matches paddle and a slim Python base
# suffices; the host needs only an NVIDIA driver for CUDA 12.6 and the container toolkit.
# The web app runs as a supervisor with --workers processes; each loads the model on the GPU.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG PADDLE_VERSION=3.3.1
ARG PADDLE_GPU_INDEX=https://www.paddlepaddle.org.cn/packages/stable/cu126/

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HUB_HOME=/home/miaobi/.paddlehub \
    PATH=/app/.venv/bin:$PATH
# PATH: `hub serving --use_gpu` starts its GPU workers as a bare `python`, which must be the venv's.

# Debian's point releases replace these packages' versions, so they are not pinned (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make curl libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 miaobi \
    && install -d -o 10001 -g 10001 /app

WORKDIR /app
COPY --chown=10001:10001 . /app
USER 10001

RUN make setup \
    && .venv/bin/pip uninstall -y paddlepaddle \
    && .venv/bin/pip install "paddlepaddle-gpu==${PADDLE_VERSION}" -i "${PADDLE_GPU_INDEX}"

EXPOSE 8000 8866
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/healthz"]
CMD [".venv/bin/python", "-m", "webapp", "--host", "0.0.0.0", "--port", "8000", "--use-gpu"]
