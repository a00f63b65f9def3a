# Same steps as `make run`: a venv with Weir installed, then `weir serve` on the embedded default.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install --quiet --upgrade pip \
 && /app/.venv/bin/pip install --quiet .
ENV PATH="/app/.venv/bin:$PATH"
VOLUME ["/data"]
EXPOSE 8000
CMD ["weir", "serve", "--listen", "0.0.0.0:8000", "--data-dir", "/data"]
