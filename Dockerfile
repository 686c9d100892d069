# s2t-stream's server image: `s2t-stream serve` with the bundled demo model, as a non-root user,
# listening on 0.0.0.0:2700 (docs/deploy.md).
#
#   CPU (small):  docker build -t s2t-stream:cpu --build-arg TORCH_INDEX_URL=<PyTorch's CPU index> .
#   CUDA:         docker build -t s2t-stream:cuda .
#   run:          docker run --rm -p 2700:2700 s2t-stream:cpu [serve flags, e.g. --max-sessions 32]
#
# The two variants differ only in the torch wheel: the same code picks the GPU when one is
# visible (`--device auto`). Offline, or to pin the exact wheel file, give pip a folder of wheels:
# `docker build --build-context wheels=DIR …` (a torch 2.13.0 CPU wheel there makes the CPU image).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Wheels pip may take before any index: empty unless the build is given `--build-context wheels=DIR`.
FROM scratch AS wheels

# --- build: a virtual environment with torch (pinned first) and the server -------------------
FROM ${PYTHON_IMAGE} AS build
# An extra pip index for torch. Empty: pip's own index, whose Linux x86_64 torch wheels are CUDA
# builds (several GB: the CUDA image). PyTorch's CPU-only wheel index gives the small CPU image.
ARG TORCH_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
# torch first and pinned, as scripts/setup.sh does: every later install is held to it by
# constraints.txt, so no dependency can swap in another build (the wheels mount is writable only
# so that builders accept the empty default; nothing written there is kept)
RUN --mount=type=bind,from=wheels,target=/wheels,rw \
    PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL" pip install --find-links /wheels "torch==2.13.0"
COPY constraints.txt pyproject.toml README.md /src/
# the command line imports the `gui` package (for its `gui` command) even without Qt: both go in
COPY s2t_stream /src/s2t_stream
COPY gui /src/gui
# (pip compiles the bytecode here: the server starts without compiling torch's modules, and the
# run stage's file system may be read-only)
RUN pip install -c /src/constraints.txt "/src[server]" \
    && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# --- run: the environment and the model, nothing else ---------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 s2t \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/s2t \
        --shell /usr/sbin/nologin s2t
COPY --from=build /opt/venv /opt/venv
COPY assets/models/s2t-demo-en /opt/s2t-stream/models/s2t-demo-en
# S2T_STREAM_MODEL: the installed package cannot find the bundled model beside its sources, so
# the image says where it is (`--model` still overrides it)
ENV PATH=/opt/venv/bin:$PATH \
    S2T_STREAM_MODEL=/opt/s2t-stream/models/s2t-demo-en \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# numeric, so that Kubernetes' runAsNonRoot can check it (deploy/k8s/deployment.yaml)
USER 10001:10001
WORKDIR /home/s2t
EXPOSE 2700
# liveness on /healthz with the image's own Python (no curl in a slim image); /readyz is for load
# balancers (503 while full or draining), not for restarting a container
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:2700/healthz', timeout=4)"]
# SIGTERM drains: open sessions get their finals for --drain-timeout (30 s) + 5 s; give `docker
# stop` (-t) and orchestrators at least that long
STOPSIGNAL SIGTERM
ENTRYPOINT ["s2t-stream", "serve", "--host", "0.0.0.0", "--port", "2700"]
CMD []
