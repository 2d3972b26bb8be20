# syntax=docker/dockerfile:1
# The image of one service, the same definition for all four: the build argument SERVICE (ingest, classify,
# notify or workspace) picks the service. Build from the repository root (the context needs contracts/, runtime/
# and services/<service>/):
#   docker build --build-arg SERVICE=ingest    -t feedback-ingest .
#   docker build --build-arg SERVICE=classify  -t feedback-classify .
#   docker build --build-arg SERVICE=notify    -t feedback-notify .
#   docker build --build-arg SERVICE=workspace -t feedback-workspace .
# Dependencies come from the pyproject files of contracts/, runtime/ and services/<service>/, the same files
# `make` installs from; no other service is in the image. What differs between the services (the Debian
# packages one needs, the app uvicorn starts) is in the service-<name> stages below, and nowhere else.
ARG PYTHON_IMAGE=python:3.11-slim
# No default: an image must say which service it is.
ARG SERVICE

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN case "${SERVICE}" in \
        ingest|classify|notify|workspace) ;; \
        *) echo "build argument SERVICE must be ingest, classify, notify or workspace, not '${SERVICE}'" >&2; exit 1 ;; \
    esac
RUN python -m venv /opt/venv
WORKDIR /src
COPY contracts/ ./contracts/
COPY runtime/ ./runtime/
COPY services/${SERVICE}/ ./services/${SERVICE}/
RUN /opt/venv/bin/pip install ./contracts ./runtime ./services/${SERVICE}

# Per service: its Debian packages and its entrypoint (exec form, so uvicorn is PID 1 and gets SIGTERM; exec
# form takes no build arguments, hence one stage per service). BuildKit builds only the stage SERVICE selects.
# Every service depends on uvicorn[standard], so the venv holds uvloop and httptools (manylinux wheels, nothing
# to compile) and uvicorn's default (--loop auto, --http auto) serves with them, as `feedback dev up` and the
# benchmark do; docs/benchmarks.md reads which loop and parser each server ran on from the process itself.
FROM ${PYTHON_IMAGE} AS service-ingest
ENTRYPOINT ["uvicorn", "--factory", "feedback_ingest.app:create_app", "--host", "0.0.0.0", "--port", "8000"]

FROM ${PYTHON_IMAGE} AS service-classify
# Finnish morphology for the classifier: Debian's libvoikko and its Finnish dictionary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvoikko1 voikko-fi \
    && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["uvicorn", "--factory", "feedback_classify.app:create_app", "--host", "0.0.0.0", "--port", "8000"]

FROM ${PYTHON_IMAGE} AS service-notify
ENTRYPOINT ["uvicorn", "--factory", "feedback_notify.app:create_app", "--host", "0.0.0.0", "--port", "8000"]

# The owners' workspace: its templates, static files and migrations are package data of feedback_workspace,
# installed with it; nothing is fetched at run time. Its pages link with relative paths and its absolute URLs
# (sign-in links, the OIDC callback) come from WORKSPACE_BASE_URL, so no proxy headers need to be trusted.
FROM ${PYTHON_IMAGE} AS service-workspace
ENTRYPOINT ["uvicorn", "--factory", "feedback_workspace.app:create_app", "--host", "0.0.0.0", "--port", "8000"]

# The image: the service's stage, a non-root user and the virtualenv built above.
FROM service-${SERVICE}
RUN groupadd --system --gid 10001 feedback \
    && useradd --system --uid 10001 --gid feedback --home-dir /app --no-create-home --shell /usr/sbin/nologin feedback \
    && mkdir -p /app /var/lib/feedback \
    && chown feedback:feedback /var/lib/feedback
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000
# slim has no curl: ask /healthz with the standard library.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
