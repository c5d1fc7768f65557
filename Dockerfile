# Backprop Studio: `docker build -t backprop-studio . && docker run -p 8000:8000 backprop-studio`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel carries the templates, static files and Plotly (setup.py): installed, the sources
# go; nothing but the installed package is imported.
COPY pyproject.toml setup.py README.md /tmp/src/
COPY app /tmp/src/app
COPY static /tmp/src/static
COPY templates /tmp/src/templates
RUN pip install /tmp/src && rm -rf /tmp/src

RUN useradd --create-home --uid 10001 studio && mkdir /data && chown studio /data
USER studio
# Snapshots of every session and room (README, "Restarts keep every workshop").
ENV BACKPROP_STATE_DIR=/data
VOLUME /data

EXPOSE 8000
# No curl in slim images: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('BACKPROP_PORT', '8000') + '/healthz', timeout=4)"]

CMD ["backprop-studio", "--host", "0.0.0.0"]
