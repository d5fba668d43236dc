# Build the wheel in one stage, install it into a clean virtualenv in a second, run as non-root.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY app ./app
COPY connectors ./connectors
COPY qualification ./qualification
COPY migrations ./migrations
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    GLENGARRY_DATA_DIR=/data \
    GLENGARRY_HOST=0.0.0.0 \
    GLENGARRY_PORT=8000
COPY --from=build /dist /dist
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /dist/*.whl \
    && rm -rf /dist \
    && useradd --system --uid 10001 --home-dir /data --create-home glengarry
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GLENGARRY_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["glengarry", "serve"]
